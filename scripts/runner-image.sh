#!/usr/bin/env bash
# Builds the AWS migration runner image of one release: Gatehouse's CLIs and
# schema expectations from this checkout, and the app's own migration files from
# the checkout of the release being deployed (components/aws/runner.Dockerfile
# puts them in app-migrations/, where the runner tasks read them). Prints each
# file with its sha256 as the release plan shows it: the runner refuses to apply
# a file whose sha256 is not the one the plan showed.
#
#   scripts/runner-image.sh --migrations <dir> --tag <image>     stage the context and docker build
#   scripts/runner-image.sh --migrations <dir> --context-only <dir>  stage only (no docker)
#
# Then: pulumi config set --stack <stack> migrationRunnerImage <image> (after docker push).
# Exit codes: 0 built (or staged), 1 failed, 2 bad usage.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { printf 'runner-image: %s\n' "$*" >&2; exit 1; }
bad_usage() { printf 'runner-image: %s\n' "$*" >&2; usage >&2; exit 2; }

migrations="" tag="" context=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --migrations|--tag|--context-only)
      [ $# -ge 2 ] && [ -n "$2" ] || bad_usage "$1 needs a value"
      case "$1" in --migrations) migrations="$2" ;; --tag) tag="$2" ;; --context-only) context="$2" ;; esac
      shift 2 ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
done
[ -n "$migrations" ] || bad_usage "--migrations <the app's migrations directory> is required"
[ -n "$tag" ] || [ -n "$context" ] || bad_usage "--tag <image> (or --context-only <dir>) is required"
[ -d "$migrations" ] || fail "--migrations $migrations: no such directory"

root="$(cd "$(dirname "$0")/.." && pwd)"
shopt -s nullglob
files=("$migrations"/[0-9]*_*.sql)
[ "${#files[@]}" -gt 0 ] || fail "--migrations $migrations holds no NNN_name.sql files"

if [ -n "$context" ]; then
  mkdir -p "$context"
  [ -z "$(ls -A "$context")" ] || fail "--context-only $context is not empty"
else
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' EXIT
fi
# What the Dockerfile copies from this checkout, and the app's files.
cp -r "$root/package.json" "$root/package-lock.json" "$root/Pulumi.yaml" "$root/components" "$root/scripts" "$root/checks" "$context/"
mkdir "$context/app-migrations"
cp "${files[@]}" "$context/app-migrations/"

echo "app-migrations (from $migrations):"
for f in "$context"/app-migrations/*.sql; do
  printf '  %s  sha256 %s\n' "$(basename "$f")" "$(sha256sum "$f" | cut -c1-16)"
done

if [ -z "$tag" ]; then
  echo "context staged in $context (no image built)"
  exit 0
fi
command -v docker >/dev/null || fail "docker is not installed (or use --context-only and build elsewhere)"
docker build -f "$root/components/aws/runner.Dockerfile" -t "$tag" "$context" || fail "docker build failed"
echo "built $tag; push it and: pulumi config set --stack <stack> migrationRunnerImage $tag"
