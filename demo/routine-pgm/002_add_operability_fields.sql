-- The v2 operability columns (GOD-33 step 5). See 001 for this directory.

-- Up Migration
ALTER TABLE notifications
    ADD COLUMN reason_code text,
    ADD COLUMN provider_response_code text,
    ADD COLUMN failure_reason text,
    ADD COLUMN last_error_at timestamptz;
ALTER TABLE webhook_events
    ADD COLUMN schema_version integer NOT NULL DEFAULT 1,
    ADD COLUMN signature_state text NOT NULL DEFAULT 'unverified',
    ADD COLUMN retry_count integer NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE webhook_events
    DROP COLUMN retry_count,
    DROP COLUMN signature_state,
    DROP COLUMN schema_version;
ALTER TABLE notifications
    DROP COLUMN last_error_at,
    DROP COLUMN failure_reason,
    DROP COLUMN provider_response_code,
    DROP COLUMN reason_code;
