#!/usr/bin/env bash
# The first checklist done by hand, as a script: the baseline `npm run bench`
# compares a Gatehouse release with. pg_dump, psql -f per migration file, the
# checklist's verification queries, restart the app, curl per smoke call.
#   manual-release.sh <database-url> <port> <backup-dir> <app command...>
set -euo pipefail
db="$1"; port="$2"; backups="$3"; shift 3
base="http://127.0.0.1:$port"

pg_dump "$db" > "$backups/kifu_prod_backup_$(date +%Y%m%d_%H%M%S).sql"
# An operator applies only the new files; MANUAL_MIGRATIONS="" means none are new.
for f in ${MANUAL_MIGRATIONS-migrations/*.sql}; do psql "$db" -q -v ON_ERROR_STOP=1 -f "$f"; done

psql "$db" -Atc "SELECT column_name FROM information_schema.columns WHERE table_schema='public' AND table_name='users' AND column_name='ai_allowlisted';" | grep -q ai_allowlisted
test "$(psql "$db" -Atc "SELECT count(*) FROM information_schema.tables WHERE table_schema='public' AND table_name IN ('runs','summary_packs','guided_reviews','guided_review_items','user_streaks');")" = 5
psql "$db" -Atc "SELECT COUNT(*) AS runs_count FROM runs;" >/dev/null
psql "$db" -Atc "SELECT COUNT(*) AS summary_packs_count FROM summary_packs;" >/dev/null

PORT="$port" DATABASE_URL="$db" nohup "$@" > "$backups/app.log" 2>&1 &
echo $! > "$backups/app.pid"
until curl -sf "$base/health" > /dev/null; do sleep 1; done

json() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
email="smoke-$RANDOM$RANDOM@example.com"
curl -sf "$base/health" > /dev/null
curl -sf -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"pw\"}" > /dev/null
token=$(curl -sf -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"pw\"}" | json token)
auth="Authorization: Bearer $token"
curl -sf "$base/api/v1/users/me" -H "$auth" > /dev/null
curl -sf "$base/api/v1/trades/summary" -H "$auth" > /dev/null
curl -sf "$base/api/v1/market/klines?symbol=BTCUSDT&interval=1d&limit=5" > /dev/null
curl -sf -X POST "$base/api/v1/bubbles" -H "$auth" -H 'Content-Type: application/json' -d '{"symbol":"BTCUSDT","candle_time":"2026-01-01T00:00:00Z","note":"manual"}' > /dev/null
curl -sf "$base/api/v1/bubbles" -H "$auth" > /dev/null
test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/v1/ai/review" -H "$auth" -H 'Content-Type: application/json' -d '{"prompt":"x"}')" = 403
run_id=$(curl -sf -X POST "$base/api/v1/sync/binance" -H "$auth" | json run_id)
pack_id=$(curl -sf -X POST "$base/api/v1/packs/generate" -H "$auth" -H 'Content-Type: application/json' -d "{\"source_run_id\":\"$run_id\",\"range\":\"30d\"}" | json pack_id)
curl -sf "$base/api/v1/packs/latest?range=30d" -H "$auth" > /dev/null
curl -sf "$base/api/v1/packs/$pack_id" -H "$auth" > /dev/null
