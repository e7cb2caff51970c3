-- Base schema of the first app (kifu). In production, 001-019 were applied by
-- hand before Gatehouse tracked migrations: release there with baseline 019
-- (gatehouse:migrationBaseline). A fresh database (local, tests) applies it.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    display_name  text,
    -- Rows created by release smoke checks (header X-Gatehouse-Smoke-Test), so
    -- they can be told apart from real users and cleaned up.
    smoke_test_release text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

-- Keeps updated_at honest for every table that has one; the body holds
-- semicolons, so it is one statement only to a real SQL parser.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE trades (
    id          bigserial PRIMARY KEY,
    user_id     uuid          NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exchange    text          NOT NULL CHECK (exchange IN ('upbit', 'binance')),
    symbol      text          NOT NULL,
    side        text          NOT NULL CHECK (side IN ('buy', 'sell')),
    price       numeric(20,8) NOT NULL,
    quantity    numeric(20,8) NOT NULL,
    executed_at timestamptz   NOT NULL
);
CREATE INDEX trades_user_executed_idx ON trades (user_id, executed_at DESC);

-- 말풍선: notes a user pins to a candle on the chart.
CREATE TABLE bubbles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol      text        NOT NULL,
    candle_time timestamptz NOT NULL,
    note        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bubbles_user_symbol_idx ON bubbles (user_id, symbol, candle_time);
