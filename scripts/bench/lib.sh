# What the hand-run checklists (manual-release*.sh) and the floor (floor-release-routine.sh) do the same way, as a
# person's shell would: curl with an expected status, a JSON field picked out
# with sed, a process restarted in place, a `sleep 1` poll until it answers.

# call <status> <curl args...>: the body on stdout; fails unless the status is <status>.
call() {
  local want="$1" answer code; shift
  answer=$(curl -s -w '\n%{http_code}' "$@")
  code="${answer##*$'\n'}"
  if [ "$code" != "$want" ]; then echo "expected $want, got $code: curl $*: ${answer%$'\n'*}" >&2; return 1; fi
  printf '%s\n' "${answer%$'\n'*}"
}

# field <name>: the first "name": value of the JSON on stdin (a string or a number).
# Reads all of stdin first: a reader that stops early (grep -q, head) would end
# the writer with SIGPIPE, which set -o pipefail turns into a failed step (141).
field() { local text; text=$(cat); grep -o "\"$1\":\\(\"[^\"]*\"\\|[0-9]*\\)" <<<"$text" | sed -n "1{s/^\"$1\"://; s/\"//g; p}"; }

# contains <text>: stdin holds <text> (literally); read whole, as field is.
contains() { local text; text=$(cat); [[ "$text" == *"$1"* ]] || { echo "expected the answer to contain $1" >&2; return 1; }; }

# restart_in_place <name> <command...>: stops the process <name>.pid records
# (and waits until it is gone), then starts <command> in the background.
restart_in_place() {
  local name="$1" old; shift
  if [ -f "$name.pid" ]; then
    old=$(cat "$name.pid")
    kill "$old" 2> /dev/null || true
    while kill -0 "$old" 2> /dev/null; do sleep 0.1; done
  fi
  nohup "$@" >> "$name.log" 2>&1 &
  echo $! > "$name.pid"
}

# wait_for <url>: until it answers 2xx, polled once a second as a hand-written loop does.
wait_for() { until curl -sf -o /dev/null "$1"; do sleep 1; done; }

# routine_plan_calls <base-url> <kakao id>: the calls of checks/routine.smoke.yaml after /readyz, call by call:
# the smoke user resolved, then 201 (source normalised to llm), the same user and date 409, an empty
# plan_source or source 400, with FastAPI's {"detail": ...} bodies.
routine_plan_calls() {
  local base="$1" kakao="$2" user
  plan() { call "$1" -X POST "$base/plans/generate" -H 'Content-Type: application/json' -d "$2"; }
  user=$(call 200 -X POST "$base/auth/resolve" -H 'Content-Type: application/json' -d "{\"kakao_user_id\":\"$kakao\",\"name\":\"smoke\"}" | field user_id)
  test -n "$user"
  plan 201 "{\"user_id\":\"$user\",\"target_date\":\"2026-12-01\",\"source\":\" LLM \"}" | contains '"source":"llm"'
  plan 409 "{\"user_id\":\"$user\",\"target_date\":\"2026-12-01\",\"plan_source\":\"rule\"}" | contains 'already exists for this user and target_date'
  plan 400 "{\"user_id\":\"$user\",\"target_date\":\"2026-12-02\",\"plan_source\":\"\"}" | contains 'source must be one of [llm, rule]'
  plan 400 "{\"user_id\":\"$user\",\"target_date\":\"2026-12-03\",\"source\":\"\"}" | contains 'source must be one of [llm, rule]'
}
