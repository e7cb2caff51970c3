-- The routine stand-in's schema, 001-002: the second app's persistence schema
-- as its alembic revisions 001_initial_persistence_schema and
-- 002_add_operability_fields leave it, in what checks/routine.schema.yaml
-- reads (keys, unique constraints and indexes, the v2 columns), so the
-- schema checks see on a stand-in database what they would see on the app's.
-- Plain SQL for Gatehouse's runner; the real app migrates with alembic.
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
