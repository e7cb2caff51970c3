-- Generated workout plans, as the app's develop branch makes them (main does
-- not generate plans yet): one ACTIVE plan per user and date (a second
-- request for the pair answers 409), each with its normalised source (rule or
-- llm). user_id references users, as the app's plans do (ON DELETE RESTRICT):
-- a UUID with no user row fails the insert.
CREATE TABLE workout_plans (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    target_date date        NOT NULL,
    source      text        NOT NULL CHECK (source IN ('rule', 'llm')),
    status      text        NOT NULL DEFAULT 'ACTIVE',
    items       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_workout_plans_user_date UNIQUE (user_id, target_date)
);
