#!/usr/bin/env bash
# The first checklist done by hand, as a script: the baseline `npm run bench`
# compares a Gatehouse release of the first app with. pg_dump, psql -f per new
# migration file, the checklist's verification queries, then, as a person
# does it, the app stopped and restarted in place (users see the outage and
# the new version before any check), the calls of checks/kifu.smoke.yaml with
# curl (same paths, bodies and expected statuses), then the frontend
# restarted in place and its page read. No snapshot check, rehearsal or ledger.
#   manual-release.sh <database-url> <backend-port> <frontend-port> <work-dir> <release> <backend command...> -- <frontend command...>
# The backend's env (JWT_SECRET, AI_REQUIRE_ALLOWLIST, ...) comes from the caller's.
# MANUAL_MIGRATIONS: the new files to apply (default: every file; "" for none).
set -euo pipefail
db="$1"; port="$2"; fport="$3"; work="$4"; release="$5"; shift 5
backend=(); while [ "$1" != "--" ]; do backend+=("$1"); shift; done; shift; frontend=("$@")
base="http://127.0.0.1:$port"
page="http://127.0.0.1:$fport"
source "$(dirname "$0")/lib.sh"

pg_dump "$db" > "$work/kifu_prod_backup_$(date +%Y%m%d_%H%M%S).sql"
for f in ${MANUAL_MIGRATIONS-demo/migrations/*.sql}; do psql "$db" -q -v ON_ERROR_STOP=1 -f "$f"; done

# The checklist's verification queries (checks/kifu.schema.yaml's checklist group).
psql "$db" -Atc "SELECT column_name FROM information_schema.columns WHERE table_schema='public' AND table_name='users' AND column_name='ai_allowlisted';" | contains ai_allowlisted
test "$(psql "$db" -Atc "SELECT count(*) FROM information_schema.tables WHERE table_schema='public' AND table_name IN ('runs','summary_packs','guided_reviews','guided_review_items','user_streaks');")" = 5
psql "$db" -Atc "SELECT COUNT(*) AS runs_count FROM runs;" >/dev/null
psql "$db" -Atc "SELECT COUNT(*) AS summary_packs_count FROM summary_packs;" >/dev/null

restart_in_place "$work/backend" env PORT="$port" DATABASE_URL="$db" GATEHOUSE_RELEASE="$release" "${backend[@]}"
wait_for "$base/health"

# checks/kifu.smoke.yaml, call by call (not in production: a new user per run).
run="$RANDOM$RANDOM"
email="gatehouse-smoke-$run@gatehouse.invalid"; password="gatehouse-smoke-$run-pw"
json_post() { local want="$1" path="$2" body="$3"; shift 3; call "$want" -X POST "$base$path" -H 'Content-Type: application/json' -d "$body" "$@"; }
call 200 "$base/health" | contains '"status":"healthy"'
call 401 "$base/api/v1/users/me" > /dev/null
user="{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Gatehouse smoke $release\"}"
json_post 200 /api/v1/auth/register "$user" > /dev/null
json_post 409 /api/v1/auth/register "$user" | contains EMAIL_EXISTS
token=$(json_post 200 /api/v1/auth/login "{\"email\":\"$email\",\"password\":\"$password\"}" | field access_token)
auth="Authorization: Bearer $token"
call 200 "$base/api/v1/users/me" -H "$auth" > /dev/null
call 200 "$base/api/v1/trades/summary" -H "$auth" > /dev/null
# klines is `external`: run only where this machine reaches the exchange, as the gate decides.
if curl -s -o /dev/null -I --max-time 3 https://api.binance.com/api/v3/ping; then
  call 200 "$base/api/v1/market/klines?symbol=BTCUSDT&interval=1d&limit=5" > /dev/null
fi
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
bubble=$(json_post 200 /api/v1/bubbles "{\"symbol\":\"BTCUSDT\",\"timeframe\":\"1d\",\"candle_time\":\"$now\",\"price\":\"90000\",\"memo\":\"manual $release $run\"}" -H "$auth" | field id)
call 200 "$base/api/v1/bubbles" -H "$auth" | contains "$bubble"
call 200 -X DELETE "$base/api/v1/bubbles/$bubble" -H "$auth" > /dev/null
call 200 "$base/api/v1/users/me" -H "$auth" | contains '"ai_allowlisted":false'
json_post 403 /api/v1/ai/one-shot "{\"provider\":\"openai\",\"prompt_type\":\"brief\",\"symbol\":\"BTCUSDT\",\"timeframe\":\"1d\",\"price\":\"90000\",\"evidence_text\":\"manual $release\"}" -H "$auth" | contains ALLOWLIST_REQUIRED
printf 'executed_at,symbol,side,qty,price\n%s,BTCUSDT,buy,0.001,90000\n%s,BTCUSDT,sell,0.001,90100\n' "$now" "$now" > "$work/trades.csv"
run_id=$(call 200 -X POST "$base/api/v1/imports/trades" -H "$auth" -F venue=binance -F asset_class=crypto -F "file=@$work/trades.csv;type=text/csv" | field run_id)
pack_id=$(json_post 200 /api/v1/packs/generate "{\"source_run_id\":\"$run_id\",\"range\":\"30d\"}" -H "$auth" | field pack_id)
call 200 "$base/api/v1/packs/latest?range=30d" -H "$auth" | contains "$pack_id"
call 200 "$base/api/v1/packs/$pack_id" -H "$auth" | contains "$run_id"

# The frontend (checklist 4-2): restarted in place with the backend's URL, its page read.
restart_in_place "$work/frontend" env PORT="$fport" NEXT_PUBLIC_API_BASE_URL="$base" NEXT_PUBLIC_APP_MODE=prod GATEHOUSE_RELEASE="$release" "${frontend[@]}"
wait_for "$page/"
call 200 "$page/" | contains "$release"
