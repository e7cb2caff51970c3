#!/usr/bin/env bash
# The floor under a Gatehouse release of the second app: only the programs
# such a release must run, back to back, with no Gatehouse process between
# them and nothing to decide. It bounds what any tool doing these steps can
# reach (`npm run bench` sets it beside the release and the hand-run script).
#   the snapshot:   pg_dump -Fc, then pg_restore --list (the snapshot is checked readable)
#   the rehearsal:  createdb, pg_restore into it, the app's tool up, pg_dump --schema-only,
#                   down, up, pg_dump --schema-only, the two compared, dropdb
#   the migration:  the app's tool up on the database
#   the new API:    started, then /readyz polled every 10 ms until it answers
#   the gate:       the calls of checks/routine.smoke.yaml (as the hand-run script makes them)
#   the worker:     started, then worker-check run until it exits 0
# The client tools are called by their full path (no pg_wrapper), as Gatehouse does.
#   floor-release-routine.sh <database-url> <redis-url> <port> <work-dir> <release> <migrations-dir> <app command...>
set -euo pipefail
db="$1"; redis="$2"; port="$3"; work="$4"; release="$5"; migrations="$6"; shift 6
app=("$@")
base="http://127.0.0.1:$port"
source "$(dirname "$0")/lib.sh"
bin="$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -1)"
[ -n "$bin" ] || bin="$(dirname "$(command -v pg_dump)")"

scratch="$(basename "${db%%\?*}")_floor_$RANDOM$RANDOM"
scratch_url="${db%/*}/$scratch"
tool() { DATABASE_URL="$1" node_modules/.bin/node-pg-migrate "$2" -m "$migrations" --no-verbose > /dev/null; }

"$bin/pg_dump" --format=custom --file "$work/snapshot.dump" "$db"
"$bin/pg_restore" --list "$work/snapshot.dump" > /dev/null
"$bin/psql" "$db" -qAtc "CREATE DATABASE \"$scratch\""
"$bin/pg_restore" --exit-on-error --single-transaction --no-owner --no-privileges --dbname "$scratch_url" "$work/snapshot.dump"
tool "$scratch_url" up
"$bin/pg_dump" --schema-only "$scratch_url" | grep -v '^\\\(un\)\?restrict' > "$work/after-up.sql"
tool "$scratch_url" down
tool "$scratch_url" up
"$bin/pg_dump" --schema-only "$scratch_url" | grep -v '^\\\(un\)\?restrict' > "$work/after-round-trip.sql"
cmp -s "$work/after-up.sql" "$work/after-round-trip.sql"
"$bin/psql" "$db" -qAtc "DROP DATABASE \"$scratch\" WITH (FORCE)"
tool "$db" up

export DATABASE_URL="$db" REDIS_URL="$redis" GATEHOUSE_RELEASE="$release"
PORT="$port" nohup "${app[@]}" >> "$work/api.log" 2>&1 &
echo $! > "$work/api.pid"
until curl -sf -o /dev/null "$base/readyz"; do sleep 0.01; done

call 200 "$base/healthz" > /dev/null
call 200 "$base/readyz" | contains '"database":"ok"'
routine_plan_calls "$base" "floor-smoke-$RANDOM$RANDOM"

nohup "${app[@]}" worker >> "$work/worker.log" 2>&1 &
echo $! > "$work/worker.pid"
until "${app[@]}" worker-check > /dev/null 2>&1; do sleep 0.025; done
