-- 022: exchange sync runs (업비트/바이낸스) and the summary packs generated from them.

CREATE TABLE runs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text        NOT NULL CHECK (kind IN ('sync_upbit', 'sync_binance')),
    status      text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX runs_user_started_idx ON runs (user_id, started_at DESC);

CREATE TABLE summary_packs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source_run_id uuid        NOT NULL REFERENCES runs (id) ON DELETE RESTRICT,
    range         text        NOT NULL CHECK (range IN ('7d', '30d', '90d')),
    payload       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX summary_packs_user_range_created_idx ON summary_packs (user_id, range, created_at DESC);
