#!/usr/bin/env bash
# Prepares the two real apps Gatehouse releases, outside this repository, for
# tests that run against them: checkouts, the kifu backend binary, the kifu
# frontend build (npm ci + next build) and a Debian 13 root with Python 3.13 and
# the routine API's modules (Debian 12's are too old). A second run reuses what
# exists. Progress goes to stderr; the last lines on stdout are the environment
# a test run needs (GATEHOUSE_REAL_*=...).
#
#   scripts/real-apps.sh [options]
#     --dir DIR           where everything goes (default ${XDG_CACHE_HOME:-~/.cache}/gatehouse/real-apps)
#     --kifu SRC          kifu git dir or URL (default https://github.com/nyuk/kifu)
#     --kifu-ref REF      branch or commit (default main)
#     --routine SRC       routine git dir or URL (default https://github.com/ANGHOOO/godlife)
#     --routine-ref REF   the routine checkout under test (default develop)
#     --routine-main-ref REF  the released routine version (default main)
#     --api-base-url URL  NEXT_PUBLIC_API_BASE_URL, inlined by next build (default http://127.0.0.1:8080/api)
#     --app-mode MODE     NEXT_PUBLIC_APP_MODE, inlined too (default prod)
#     --debian-mirror URL mirror for debootstrap (default http://deb.debian.org/debian)
#     --no-frontend       skip npm ci / next build
#     --no-python-root    skip the Debian 13 root (it needs root and debootstrap)
#   Exit: 0 ready, 1 a step failed (its log is in DIR/logs), 2 bad usage.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
log() { printf '[real-apps] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Any failing command ends the run with 1 (not its own code, which could be 2).
trap 'log "error: step failed at line $LINENO (logs: ${dir:-?}/logs)"; exit 1' ERR

dir="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/real-apps"
kifu_src=https://github.com/nyuk/kifu; kifu_ref=main
routine_src=https://github.com/ANGHOOO/godlife; routine_ref=develop; routine_main_ref=main
api_base=http://127.0.0.1:8080/api; app_mode=prod
mirror=http://deb.debian.org/debian; frontend=1; pyroot=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --no-frontend) frontend=0; shift; continue ;;
    --no-python-root) pyroot=0; shift; continue ;;
    --dir|--kifu|--kifu-ref|--routine|--routine-ref|--routine-main-ref|--api-base-url|--app-mode|--debian-mirror)
      if [ $# -lt 2 ] || [ -z "$2" ]; then log "$1 needs a value"; usage >&2; exit 2; fi ;;
    *) log "unknown argument '$1'"; usage >&2; exit 2 ;;
  esac
  case "$1" in
    --dir) dir="$2" ;; --kifu) kifu_src="$2" ;; --kifu-ref) kifu_ref="$2" ;;
    --routine) routine_src="$2" ;; --routine-ref) routine_ref="$2" ;;
    --routine-main-ref) routine_main_ref="$2" ;; --api-base-url) api_base="$2" ;;
    --app-mode) app_mode="$2" ;; --debian-mirror) mirror="$2" ;;
  esac
  shift 2
done

# Never write into this repository (another checkout may be in use there).
repo="$(cd "$(dirname "$0")/.." && pwd -P)"
dir="$(realpath -m "$dir")"
case "$dir/" in "$repo/"*) log "--dir must be outside the repository ($repo)"; exit 2 ;; esac
mkdir -p "$dir/logs" "$dir/bin"
cd "$dir"
for tool in git go node npm; do command -v "$tool" >/dev/null || die "$tool is not installed"; done

# run LOGNAME CMD...: a noisy step, output to DIR/logs/LOGNAME.log, tail shown on failure.
run() {
  local name="$1"; shift
  if ! "$@" >"$dir/logs/$name.log" 2>&1; then
    tail -n 20 "$dir/logs/$name.log" >&2; die "$name failed (full log: $dir/logs/$name.log)"
  fi
}

# checkout SRC REF DEST: clone once, then move to REF (a branch of SRC or a commit).
# Mirrors may lack their largest blobs (kifu's mirror has no backend/main, a
# committed binary): such paths are left out through a sparse checkout
# instead of failing the whole checkout.
checkout() {
  local src="$1" ref="$2" dest="$3" name; name="$(basename "$3")"
  if [ ! -d "$dest/.git" ]; then
    log "cloning $src into $dest"
    rm -rf "$dest"; run "clone-$name" git clone -q --no-checkout "$src" "$dest"
  fi
  # Offline with a URL source, the existing clone is used as it is.
  git -C "$dest" fetch -q origin >"$dir/logs/fetch-$name.log" 2>&1 || log "warning: cannot fetch $src; using the clone as it is"
  local sha; sha="$(git -C "$dest" rev-parse -q --verify "origin/$ref^{commit}" || git -C "$dest" rev-parse -q --verify "$ref^{commit}")" \
    || die "$ref is neither a branch nor a commit of $src"
  local ids paths
  ids="$(git -C "$dest" ls-tree -r "$sha" | awk '$2 == "blob" {print $3}' | git -C "$dest" cat-file --batch-check | awk '$2 == "missing" {print $1}')"
  paths="$(git -C "$dest" ls-tree -r "$sha" | awk -v ids="$ids" 'BEGIN {n = split(ids, a, "\n"); for (i = 1; i <= n; i++) m[a[i]] = 1}
    $2 == "blob" && ($3 in m) {sub(/^[^\t]*\t/, ""); print "!/" $0}')"
  if [ -n "$paths" ]; then
    log "$name: left out, absent from the source: $(printf '%s' "$paths" | sed 's|^!/||' | tr '\n' ' ')"
    # shellcheck disable=SC2086
    run "sparse-$name" git -C "$dest" sparse-checkout set --no-cone '/*' $paths
  fi
  if [ "$sha" != "$(git -C "$dest" rev-parse -q --verify HEAD || true)" ] || [ -n "$(git -C "$dest" status --porcelain -uno)" ]; then
    run "checkout-$name" git -C "$dest" checkout -q --force --detach "$sha"
  fi
  if [ -z "$paths" ] && [ "$(git -C "$dest" config --bool core.sparseCheckout || true)" = true ]; then
    run "sparse-$name" git -C "$dest" sparse-checkout disable
  fi
  log "$name at $ref = ${sha:0:12}"
}

checkout "$kifu_src" "$kifu_ref" "$dir/kifu"
checkout "$routine_src" "$routine_ref" "$dir/routine"
checkout "$routine_src" "$routine_main_ref" "$dir/routine-main"
kifu_sha="$(git -C "$dir/kifu" rev-parse HEAD)"

# kifu backend: a static binary (no cgo), rebuilt when the checkout moved.
bin="$dir/bin/kifu-backend"
if [ -x "$bin" ] && [ "$(cat "$bin.commit" 2>/dev/null)" = "$kifu_sha" ]; then
  log "kifu backend binary is current: $bin"
else
  log "building the kifu backend (go build, ~2 min)"
  (cd "$dir/kifu/backend" && run go-build env CGO_ENABLED=0 go build -o "$bin.tmp" ./cmd)
  mv "$bin.tmp" "$bin"; echo "$kifu_sha" > "$bin.commit"
fi

# kifu frontend: next build inlines NEXT_PUBLIC_* (and the /api rewrite target)
# into the build, so a build is for one API base URL and mode; the stamp keeps
# them. next.config.mjs pins no generateBuildId: each build gets a random id,
# read back from .next/BUILD_ID.
fe="$dir/kifu/frontend"; build_id=""
if [ "$frontend" = 1 ]; then
  lock_sha="$(sha256sum "$fe/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$dir/kifu-npm.stamp" 2>/dev/null)" != "$lock_sha" ] || [ ! -d "$fe/node_modules" ]; then
    log "installing kifu frontend dependencies (npm ci)"
    (cd "$fe" && run npm-ci npm ci --no-audit --no-fund)
    echo "$lock_sha" > "$dir/kifu-npm.stamp"
  fi
  want="$kifu_sha $api_base $app_mode"
  if [ -f "$fe/.next/BUILD_ID" ] && [ "$(cat "$dir/kifu-next.stamp" 2>/dev/null)" = "$want" ]; then
    log "kifu frontend build is current"
  else
    log "building the kifu frontend (next build, ~3 min) for $api_base, mode $app_mode"
    rm -f "$dir/kifu-next.stamp"
    (cd "$fe" && run next-build env NEXT_TELEMETRY_DISABLED=1 NEXT_PUBLIC_API_BASE_URL="$api_base" \
      NEXT_PUBLIC_APP_MODE="$app_mode" node_modules/.bin/next build)
    echo "$want" > "$dir/kifu-next.stamp"
  fi
  build_id="$(cat "$fe/.next/BUILD_ID")"
fi

# Debian 13 root for routine: Python 3.13 and the modules the API and alembic
# import (pyproject: fastapi, uvicorn, sqlalchemy 2, psycopg 3, alembic,
# pydantic 2; summary_service needs zoneinfo data: tzdata). Built in a
# temporary directory and renamed, so an interrupted run never leaves a half
# root, and nothing is ever deleted under a root that may have bind mounts.
root="$dir/py313-root"
imports='import fastapi, uvicorn, sqlalchemy, psycopg, alembic, pydantic, zoneinfo; zoneinfo.ZoneInfo("Asia/Seoul")'
if [ "$pyroot" = 1 ]; then
  [ "$(id -u)" = 0 ] || die "the Debian 13 root needs root (debootstrap, chroot); or pass --no-python-root"
  if [ -x "$root/usr/bin/python3" ] && chroot "$root" /usr/bin/python3 -c "$imports" 2>/dev/null; then
    log "Debian 13 root is present: $root"
  elif [ -e "$root" ]; then
    die "$root exists but lacks the modules; move it away (mind bind mounts inside) and run again"
  else
    if ! command -v debootstrap >/dev/null; then
      log "installing debootstrap"; run apt-debootstrap apt-get install -y debootstrap
    fi
    log "creating the Debian 13 root with debootstrap (~5 min)"
    # debootstrap mounts proc/sys inside its target: never rm -rf through a leftover mount.
    if grep -qs " $root.tmp/" /proc/mounts; then die "$root.tmp has mounts left (an interrupted debootstrap?); unmount them"; fi
    rm -rf "$root.tmp"
    run debootstrap debootstrap --variant=minbase \
      --include=python3-fastapi,python3-uvicorn,python3-sqlalchemy,python3-psycopg,python3-alembic,python3-pydantic,libpq5,tzdata \
      trixie "$root.tmp" "$mirror"
    chroot "$root.tmp" /usr/bin/python3 -c "$imports" || die "the new root cannot import the routine modules"
    mv "$root.tmp" "$root"
  fi
fi

# The routine API runs inside the root with its checkout bind-mounted, e.g.
#   mount --bind "$GATEHOUSE_REAL_ROUTINE" "$GATEHOUSE_REAL_PYTHON_ROOT/srv/routine"
#   chroot "$GATEHOUSE_REAL_PYTHON_ROOT" env DATABASE_URL=postgresql+psycopg://... PORT=8000 \
#     sh -c 'cd /srv/routine && python3 -m alembic -c apps/backend/alembic.ini upgrade head && exec python3 apps/backend/main.py'
log "ready"
out() { printf '%s=%q\n' "$1" "$2"; }
out GATEHOUSE_REAL_KIFU "$dir/kifu"
out GATEHOUSE_REAL_KIFU_BACKEND_BIN "$bin"
[ "$frontend" = 1 ] && { out GATEHOUSE_REAL_KIFU_BUILD_ID "$build_id"; out GATEHOUSE_REAL_KIFU_API_BASE_URL "$api_base"; }
out GATEHOUSE_REAL_ROUTINE "$dir/routine"
out GATEHOUSE_REAL_ROUTINE_MAIN "$dir/routine-main"
[ "$pyroot" = 1 ] && out GATEHOUSE_REAL_PYTHON_ROOT "$root"
exit 0
