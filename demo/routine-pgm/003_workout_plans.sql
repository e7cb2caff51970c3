-- Generated workout plans, one per user and date (the checklist's target,
-- which the deployed app does not implement yet). See 001 for this directory.

-- Up Migration
CREATE TABLE workout_plans (
    id          bigserial PRIMARY KEY,
    user_id     text        NOT NULL,
    target_date date        NOT NULL,
    source      text        NOT NULL CHECK (source IN ('rule', 'llm')),
    items       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_workout_plans_user_date UNIQUE (user_id, target_date)
);

-- Down Migration
DROP TABLE workout_plans;
