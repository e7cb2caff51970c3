#!/usr/bin/env bash
# The second checklist done by hand, as a script: the baseline `npm run bench`
# compares a Gatehouse release of the second app with. Its migration steps as
# the seed lists them (../shared/seeds/001_*.txt, with alembic; node-pg-migrate
# here): section 1's dry-run (`up --dry-run`, alembic's `upgrade head --sql`),
# pg_dump, then the GOD-33 checklist in its order: step 1 upgrade head, step 2
# the history's continuity (the revision table, in order), step 3 the
# constraint and index queries, step 4 the rollback check (downgrade -1, then
# upgrade head again; run where the checklist runs it, on the database being
# released, with no schema comparison), step 5 the v2 columns (section 2.6's
# queries with them); with no new migration, no round trip. Then, as a person does it, the API and the worker
# stopped and restarted in place (users see the outage and the new version
# before any check), /healthz and /readyz twice, and plan generation as
# checks/routine.smoke.yaml calls it.
#   manual-release-routine.sh <database-url> <redis-url> <port> <work-dir> <release> <migrations-dir> <app command...>
# The worker's own env (REDIS_KEY_PREFIX, SCHEDULER_INTERVAL_MS, ...) comes from the caller's.
set -euo pipefail
db="$1"; redis="$2"; port="$3"; work="$4"; release="$5"; migrations="$6"; shift 6
app=("$@")
base="http://127.0.0.1:$port"
source "$(dirname "$0")/lib.sh"

migrate() { DATABASE_URL="$db" node_modules/.bin/node-pg-migrate "$@" -m "$migrations" --no-verbose > /dev/null; }
q() { psql "$db" -Atc "$1"; }

# A release with no new migration has nothing for step 4 to take back: the round trip is skipped then.
pending=1
dry=$(DATABASE_URL="$db" node_modules/.bin/node-pg-migrate up --dry-run -m "$migrations")
[[ "$dry" == *"No migrations to run"* ]] && pending=0
pg_dump "$db" > "$work/routine_prod_backup_$(date +%Y%m%d_%H%M%S).sql"
migrate up
# GOD-33 step 2: the history is continuous (every file, in order) and ends at the head.
test "$(q "SELECT string_agg(name, ' ' ORDER BY id) FROM pgmigrations;")" = "$(ls "$migrations" | sed 's/\.[^.]*$//' | sort | paste -sd' ')"

# Checklist 2.6 and GOD-33 steps 3 to 5, query by query; step 4 between them, as listed.
test "$(q "SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) WHERE c.conrelid = 'public.users'::regclass AND c.contype = 'p';")" = id
test "$(q "SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.notifications'::regclass AND contype = 'u' AND pg_get_constraintdef(oid) = 'UNIQUE (idempotency_key)';")" = 1
test "$(q "SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.webhook_events'::regclass AND contype = 'u' AND pg_get_constraintdef(oid) = 'UNIQUE (provider, idempotency_key)';")" = 1
test "$(q "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'webhook_events' AND indexdef LIKE 'CREATE UNIQUE INDEX % (provider, event_id)';")" = 1
test "$(q "SELECT count(DISTINCT tablename) FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ('exercise_set_states', 'notifications', 'webhook_events');")" = 3
if [ "$pending" = 1 ]; then migrate down; migrate up; fi
test "$(q "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'notifications' AND column_name IN ('reason_code', 'provider_response_code', 'failure_reason', 'last_error_at');")" = 4
test "$(q "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'webhook_events' AND column_name IN ('schema_version', 'signature_state', 'retry_count');")" = 3

export DATABASE_URL="$db" REDIS_URL="$redis" GATEHOUSE_RELEASE="$release"
restart_in_place "$work/api" env PORT="$port" "${app[@]}"
restart_in_place "$work/worker" "${app[@]}" worker
wait_for "$base/healthz"
until "${app[@]}" worker-check > /dev/null; do sleep 1; done

# checks/routine.smoke.yaml, call by call.
call 200 "$base/healthz" > /dev/null
call 200 "$base/healthz" > /dev/null
call 200 "$base/readyz" | contains '"database":"ok"'
call 200 "$base/readyz" | contains '"database":"ok"'
routine_plan_calls "$base" "manual-smoke-$RANDOM$RANDOM"
