-- 021: AI calls only for allowlisted users while AI_REQUIRE_ALLOWLIST=true.
-- A constant default makes ADD COLUMN a catalog-only change (no table rewrite).

ALTER TABLE users ADD COLUMN ai_allowlisted boolean NOT NULL DEFAULT false;

-- The allowlist is small; a partial index keeps the lookup cheap. The name is the app's own.
CREATE INDEX idx_users_ai_allowlisted_true ON users (ai_allowlisted) WHERE ai_allowlisted = true;

-- Monthly AI usage per user, checked against AI_SERVICE_MONTHLY_CAP.
CREATE TABLE ai_usage_monthly (
    user_id uuid    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    month   date    NOT NULL CHECK (month = date_trunc('month', month)::date),
    calls   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, month)
);
