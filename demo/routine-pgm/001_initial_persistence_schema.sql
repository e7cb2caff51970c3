-- The routine stand-in's migrations for node-pg-migrate (command mode, the
-- routine local stack): the same schema as demo/routine-migrations (runner
-- mode), in the same three steps, each with its down step, so the
-- rehearsal's round trip (upgrade, down one step, upgrade) has a real tool
-- to run. tests/roundTrip.test.ts proves both directories make the same
-- schema. node-pg-migrate reads every file in this directory as a migration
-- (its name is the file name without .sql, recorded in pgmigrations), so
-- keep notes in these comments, not in a README here.
--
-- Run from the repository root with DATABASE_URL set:
--   node_modules/.bin/node-pg-migrate up -m demo/routine-pgm
--   node_modules/.bin/node-pg-migrate down -m demo/routine-pgm   (one step)

-- Up Migration
-- Users are keyed by UUID, as the app's are (its 001 creates users.id as a
-- UUID; its API takes user ids as UUIDs). The app generates the id; the
-- stand-in lets PostgreSQL do it.
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kakao_user_id text NOT NULL UNIQUE,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE exercise_set_states (
    id          bigserial PRIMARY KEY,
    user_id     uuid   NOT NULL REFERENCES users (id),
    target_date date   NOT NULL,
    state       text   NOT NULL
);
CREATE INDEX ix_exercise_set_states_user_date ON exercise_set_states (user_id, target_date);
CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    user_id         uuid   NOT NULL REFERENCES users (id),
    idempotency_key text   NOT NULL,
    CONSTRAINT uq_notifications_idempotency_key UNIQUE (idempotency_key)
);
CREATE TABLE webhook_events (
    id              bigserial PRIMARY KEY,
    provider        text NOT NULL,
    event_id        text NOT NULL,
    idempotency_key text NOT NULL,
    CONSTRAINT uq_webhook_events_provider_idem UNIQUE (provider, idempotency_key)
);
-- (provider, event_id) is unique through a unique index, not a constraint, as
-- in the app (its 001 uses op.create_index(..., unique=True)): the same
-- guarantee, listed by pg_indexes, absent from pg_constraint.
CREATE UNIQUE INDEX ix_webhook_events_provider_event_id ON webhook_events (provider, event_id);

-- Down Migration
DROP TABLE webhook_events;
DROP TABLE notifications;
DROP TABLE exercise_set_states;
DROP TABLE users;
