-- The v2 operability columns (GOD-33 step 5).
ALTER TABLE notifications
    ADD COLUMN reason_code text,
    ADD COLUMN provider_response_code text,
    ADD COLUMN failure_reason text,
    ADD COLUMN last_error_at timestamptz;
ALTER TABLE webhook_events
    ADD COLUMN schema_version integer NOT NULL DEFAULT 1,
    ADD COLUMN signature_state text NOT NULL DEFAULT 'unverified',
    ADD COLUMN retry_count integer NOT NULL DEFAULT 0;
