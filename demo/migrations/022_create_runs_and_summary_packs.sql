-- 022: runs (an exchange sync or a CSV import; the API answers with run_id)
-- and the summary packs generated from a run (the API answers with pack_id).
-- Keys as the app's real 022 names them: runs.run_id, summary_packs.pack_id.

CREATE TABLE runs (
    run_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX runs_user_started_idx ON runs (user_id, started_at DESC);

CREATE TABLE summary_packs (
    pack_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source_run_id uuid        NOT NULL REFERENCES runs (run_id) ON DELETE RESTRICT,
    range         text        NOT NULL CHECK (range IN ('7d', '30d', 'all')),
    payload       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX summary_packs_user_range_created_idx ON summary_packs (user_id, range, created_at DESC);
