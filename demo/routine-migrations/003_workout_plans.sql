-- The checklist's target, which the deployed app does not implement yet:
-- generated workout plans, one per user and date (a second request for the
-- same pair answers 409), each with its normalised source (rule or llm).
-- user_id is the caller's id as sent; the stand-in keeps no user accounts.
CREATE TABLE workout_plans (
    id          bigserial PRIMARY KEY,
    user_id     text        NOT NULL,
    target_date date        NOT NULL,
    source      text        NOT NULL CHECK (source IN ('rule', 'llm')),
    items       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_workout_plans_user_date UNIQUE (user_id, target_date)
);
