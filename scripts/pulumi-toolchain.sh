#!/usr/bin/env bash
# Provides Pulumi's own engine for this project and prints, as its last line,
# the directory to put first on PATH. That directory is a Pulumi distribution:
#   pulumi                         the CLI and engine
#   pulumi-language-nodejs         Pulumi's Node.js language host (the engine runs
#                                  the one beside the binary it runs from)
#   pulumi-resource-pulumi-nodejs  Pulumi's launcher for dynamic providers
#   pulumi-analyzer-policy         the launcher for Node.js policy packs
# and Pulumi's command provider is installed in the plugin cache
# (PULUMI_HOME, default ~/.pulumi) at the version package-lock.json's
# @pulumi/command asks for. Nothing of it is Gatehouse's own.
#
# Sources, in order (the first that has a part provides it):
#   1. a full Pulumi distribution already on PATH;
#   2. the cache outside the repo (GATEHOUSE_TOOLCHAIN_CACHE);
#   3. the official installer and `pulumi plugin install`, where the network allows;
#   4. GATEHOUSE_PULUMI_PLUGINS: a directory of Pulumi's official plugin
#      binaries with their SHA256SUMS, beside the CLI built from the Go module proxy.
# Every binary's version is checked, and from that directory its sha256, before
# it is used; one line says where each part came from. A second run is a no-op.
#
#   scripts/pulumi-toolchain.sh            provide the engine, print its directory
#   export PATH="$(scripts/pulumi-toolchain.sh | tail -1):$PATH"
#
# Environment: GATEHOUSE_PULUMI_PLUGINS (see 4), GATEHOUSE_TOOLCHAIN_CACHE
# (default ~/.cache/gatehouse/toolchain), PULUMI_HOME, GATEHOUSE_TOOLCHAIN_FROM_PATH=0
# to ignore a `pulumi` on PATH, GATEHOUSE_TOOLCHAIN_OFFICIAL=0 to skip the network.
set -euo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "pulumi-toolchain: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
PULUMI_VERSION=3.274.1 # the CLI built from the Go module proxy (toolchain/go.mod)
started=$SECONDS

say() { printf 'pulumi-toolchain [%3ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
fail() {
  printf 'pulumi-toolchain: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}

# The command provider version the program's @pulumi/command asks the engine for.
command_version="$(sed -n '/"node_modules\/@pulumi\/command": {/,/"version"/s/.*"version": "\([^"]*\)".*/\1/p' "$root/package-lock.json")"
[ -n "$command_version" ] || fail "package-lock.json names no version of @pulumi/command" "fix: cd $root && npm install"

# Keep every engine process of this script off the network unless a step asks for it.
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

cache_root="${GATEHOUSE_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/toolchain}"
plugin_cache="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
installed_command="$plugin_cache/resource-command-v$command_version/pulumi-resource-command"
plugins_dir="${GATEHOUSE_PULUMI_PLUGINS:-}"
official="${GATEHOUSE_TOOLCHAIN_OFFICIAL:-1}"
mkdir -p "$cache_root"

# Why each source was not used, for the one error that ends a failed run.
declare -a not_used=()

# --- checks ---------------------------------------------------------------

# `<file>` is Pulumi's Node.js language host of major version 3: prints its version.
host_version() {
  local v
  v="$("$1" --version 2>/dev/null | head -1)" || return 1
  [[ "$v" =~ ^v3\.[0-9]+\.[0-9]+ ]] || return 1
  echo "${BASH_REMATCH[0]}"
}

# `<cli> <file>` is Pulumi's command provider at $command_version with both the
# local and the remote Command: its own schema, as the engine reads it, says so.
command_provider_ok() {
  local schema
  schema="$(timeout 60 "$1" package get-schema "$2" 2>/dev/null)" || return 1
  printf '%s' "$schema" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const j = JSON.parse(s), want = process.argv[1];
      const ok = j.name === "command" && j.version === want && j.resources?.["command:local:Command"] && j.resources?.["command:remote:Command"];
      process.exit(ok ? 0 : 1);
    });' "$command_version"
}

# A file of GATEHOUSE_PULUMI_PLUGINS whose sha256 is the one SHA256SUMS gives: prints its path.
from_plugins_dir() {
  local name="$1" file want got
  [ -n "$plugins_dir" ] || { echo "GATEHOUSE_PULUMI_PLUGINS is not set"; return 1; }
  file="$plugins_dir/$name"
  [ -f "$file" ] || { echo "GATEHOUSE_PULUMI_PLUGINS=$plugins_dir has no $name"; return 1; }
  want="$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$plugins_dir/SHA256SUMS" 2>/dev/null)"
  [ -n "$want" ] || { echo "$plugins_dir/SHA256SUMS names no $name"; return 1; }
  got="$(sha256sum "$file" | cut -d' ' -f1)"
  [ "$got" = "$want" ] || { echo "$file has sha256 $got, SHA256SUMS says $want"; return 1; }
  echo "$file"
}

# A stat signature, so a file verified once is not verified again until it changes.
signature() { stat -c '%n %s %Y %i' "$1" 2>/dev/null; }

# --- the command provider, in the plugin cache ----------------------------

# Makes sure the plugin cache holds Pulumi's command provider at our version,
# installing it from the network or GATEHOUSE_PULUMI_PLUGINS where it does not.
# Sets command_source.
command_source=""
ensure_command_provider() {
  local cli="$1" marker="$cache_root/command-v$command_version.verified" why file
  if [ -f "$installed_command" ] && [ -f "$marker" ] && [ "$(sed -n 1p "$marker")" = "$(signature "$installed_command")" ]; then
    command_source="$(sed -n 2p "$marker")"
    return 0
  fi
  if [ -f "$installed_command" ] && command_provider_ok "$cli" "$installed_command"; then
    record_command "found in the plugin cache, its schema checked"
    return 0
  fi
  if [ -f "$installed_command" ]; then
    not_used+=("plugin cache: $installed_command is not Pulumi's command provider v$command_version (its schema lacks that version or command:remote:Command)")
    say "the plugin cache's $installed_command is not Pulumi's command provider v$command_version (Gatehouse's former stand-in?): replacing it"
  else
    not_used+=("plugin cache: no $installed_command")
  fi
  if [ "$official" != 0 ]; then
    say "installing the command provider v$command_version with pulumi plugin install ..."
    if PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=false timeout 120 "$cli" plugin install --reinstall resource command "$command_version" > "$cache_root/command-install.log" 2>&1 &&
       command_provider_ok "$cli" "$installed_command"; then
      record_command "downloaded by pulumi plugin install"
      return 0
    fi
    not_used+=("pulumi plugin install resource command $command_version: $(grep -m1 -iE 'error|fail' "$cache_root/command-install.log" | cut -c1-160 || echo 'failed')")
  fi
  if why="$(from_plugins_dir pulumi-resource-command)"; then
    file="$why"
    if ! command_provider_ok "$cli" "$file"; then
      not_used+=("$file: not the command provider v$command_version (its schema says otherwise)")
      return 1
    fi
    "$cli" plugin install --reinstall resource command "$command_version" --file "$file" > "$cache_root/command-install.log" 2>&1 ||
      fail "could not install the command provider v$command_version into $plugin_cache" "$(tail -2 "$cache_root/command-install.log")"
    record_command "from GATEHOUSE_PULUMI_PLUGINS=$plugins_dir (sha256 checked)"
    return 0
  fi
  not_used+=("$why")
  return 1
}
record_command() {
  command_source="$1"
  printf '%s\n%s\n' "$(signature "$installed_command")" "$command_source" > "$cache_root/command-v$command_version.verified"
}

# The one error when a part cannot be had: every source tried, and the fix.
missing() {
  local lines=() beside=""
  [ -f "$root/../shared/pulumi-plugins/SHA256SUMS" ] && [ -z "$plugins_dir" ] && beside="$(cd "$root/../shared/pulumi-plugins" && pwd)"
  for reason in "${not_used[@]}"; do lines+=("- $reason"); done
  fail "$1 could not be provided; tried:" "${lines[@]}" \
    "fix: put a Pulumi distribution on PATH (https://www.pulumi.com/docs/install/) and run 'pulumi plugin install resource command $command_version'," \
    "     or export GATEHOUSE_PULUMI_PLUGINS=<a directory with Pulumi's pulumi-language-nodejs and pulumi-resource-command v$command_version and their SHA256SUMS>" \
    "${beside:+     (there is one beside this checkout: export GATEHOUSE_PULUMI_PLUGINS=$beside)}" \
    "     then run scripts/pulumi-toolchain.sh again"
}

done_with() { # <distribution dir> <cli source> <host source> [where it is cached]
  local dir="$1" cli="$1/pulumi"
  ensure_command_provider "$cli" || missing "Pulumi's command provider v$command_version"
  say "engine: CLI $("$cli" version) $2; Node.js language host $(host_version "$dir/pulumi-language-nodejs") $3; command provider v$command_version $command_source, in $plugin_cache${4:+ (cached in $4)}"
  echo "$dir"
  exit 0
}

# --- 1. a distribution on PATH --------------------------------------------
# The engine loads its language host and launchers from beside the binary it
# runs, symlinks resolved (sdk/go/common/workspace/plugins.go, bundled plugins),
# so that is the directory checked and printed, whatever it is named.
if [ "${GATEHOUSE_TOOLCHAIN_FROM_PATH:-1}" = 0 ]; then
  not_used+=("PATH: not looked at (GATEHOUSE_TOOLCHAIN_FROM_PATH=0)")
elif ! on_path="$(command -v pulumi 2>/dev/null)"; then
  not_used+=("PATH: no pulumi")
else
  real="$(readlink -f "$on_path")"
  dir="$(dirname "$real")"
  if head -c 4 "$real" | grep -q '^#!'; then
    not_used+=("PATH: $on_path is a script, not Pulumi's CLI (Gatehouse's former wrapper?)")
  elif ! version="$(host_version "$dir/pulumi-language-nodejs")"; then
    not_used+=("PATH: $on_path has no Pulumi Node.js language host v3 beside it ($dir/pulumi-language-nodejs)")
  elif [ ! -x "$dir/pulumi-resource-pulumi-nodejs" ]; then
    not_used+=("PATH: $on_path has no pulumi-resource-pulumi-nodejs beside it")
  else
    done_with "$dir" "on PATH ($real)" "beside it"
  fi
fi

# --- 2. the cache -----------------------------------------------------------
layout=4 # bump when this script lays the directory out differently
cache="$cache_root/pulumi-v$PULUMI_VERSION-layout$layout"
bin="$cache/bin"
if [ -f "$cache/complete" ]; then
  { read -r cli_source; read -r host_source; } < "$cache/complete"
  done_with "$bin" "$cli_source" "$host_source" "$cache"
fi

mkdir -p "$bin"
exec 9>"$cache/.lock"
flock 9

# --- 3. the official installer ----------------------------------------------
official_install() {
  [ "$official" != 0 ] || { not_used+=("the official installer: GATEHOUSE_TOOLCHAIN_OFFICIAL=0"); return 1; }
  [ -f "$root/node_modules/@pulumi/pulumi/automation/index.js" ] || { not_used+=("the official installer: node_modules is not installed"); return 1; }
  local tmp="$cache/official"
  say "trying the official install of Pulumi v$PULUMI_VERSION (Automation API) ..."
  if ! (cd "$root" && timeout 120 node -e '
      require("@pulumi/pulumi/automation").PulumiCommand.install({ root: process.argv[1], version: process.argv[2] })
        .then(() => process.exit(0), (e) => { console.error(String(e.message || e).split("\n")[0]); process.exit(1); });
    ' "$tmp" "$PULUMI_VERSION") > "$cache/official.log" 2>&1; then
    not_used+=("the official installer: $(tail -1 "$cache/official.log" | cut -c1-160)")
    return 1
  fi
  for f in pulumi pulumi-language-nodejs pulumi-resource-pulumi-nodejs pulumi-analyzer-policy; do
    install -m 0755 "$tmp/bin/$f" "$bin/$f"
  done
  printf '%s\n%s\n' "from the official installer" "from the official installer" > "$cache/sources"
}

# --- 4. GATEHOUSE_PULUMI_PLUGINS beside the CLI built from the module proxy --
export GOFLAGS="${GOFLAGS:-} -trimpath"
go_build() { # <what> <output> <package> <ldflags> <how long a first build takes>
  local what="$1" out="$2" pkg="$3" extra="$4" expect="$5" log="$cache/build-$(basename "$2").log"
  say "building $what with $(go version | cut -d' ' -f3) ($expect) ..."
  local t0=$SECONDS
  ( cd "$root/toolchain" && go build -mod=readonly -ldflags "-s -w $extra" -o "$out" "$pkg" ) > "$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && say "  still building $what ($((SECONDS - t0)) s)"
  done
  wait "$pid" || fail "could not build $what ($pkg) with $(go version | cut -d' ' -f3)" \
    "$(grep -m3 -E 'error|go: |cannot|refused|Forbidden' "$log" || tail -3 "$log")" "full log: $log"
  say "built $what in $((SECONDS - t0)) s"
}

from_plugins_and_modules() {
  local host why sdk_dir
  # Checked before the CLI is built: without Pulumi's language host the build would be minutes for nothing.
  if ! host="$(from_plugins_dir pulumi-language-nodejs)"; then not_used+=("$host"); missing "Pulumi's Node.js language host"; fi
  host_version "$host" > /dev/null || { not_used+=("$host: not Pulumi's Node.js language host v3 (--version)"); missing "Pulumi's Node.js language host"; }
  command -v go >/dev/null || fail "no Go toolchain: the Pulumi CLI is built with Go 1.26 from the Go module proxy" \
    "fix: install Go 1.26 (https://go.dev/dl/) and run scripts/pulumi-toolchain.sh again, or put a Pulumi distribution on PATH"
  # Only what the build needs is fetched: the module graph also names versions the proxy refuses.
  # Downloaded before it is listed: `go list -m` prints an empty .Dir for a module not yet in the module cache.
  if ! (cd "$root/toolchain" && go mod download github.com/pulumi/pulumi/sdk/v3 >"$cache/modules.log" 2>&1) ||
     ! sdk_dir="$(cd "$root/toolchain" && go list -mod=readonly -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3 2>>"$cache/modules.log")" || [ -z "$sdk_dir" ]; then
    fail "cannot fetch the Pulumi modules from the Go module proxy ($(go env GOPROXY))" \
      "$(grep -m2 -E 'go: |Forbidden|dial|lookup' "$cache/modules.log" || tail -2 "$cache/modules.log")" \
      "fix: allow the Go module proxy, or put a Pulumi distribution on PATH"
  fi
  go_build "the Pulumi CLI v$PULUMI_VERSION" "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    "a first build takes 4 to 8 minutes on 2 cores; later ones use the Go build cache"
  install -m 0755 "$host" "$bin/pulumi-language-nodejs"
  # The launchers a distribution ships beside the CLI: the dynamic-provider one
  # is the file Pulumi ships in its SDK module; the policy-pack one is its sibling
  # for run-policy-pack, as Pulumi's distribution has it.
  install -m 0755 "$sdk_dir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$bin/pulumi-resource-pulumi-nodejs"
  cat > "$bin/pulumi-analyzer-policy" <<'EOF'
#!/bin/sh
PULUMI_RUN_SCRIPT_PATH=$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/run-policy-pack'))")
if [ ! -z "$PULUMI_RUN_SCRIPT_PATH" ]; then
    node "$PULUMI_RUN_SCRIPT_PATH" $@
fi
EOF
  chmod 0755 "$bin/pulumi-analyzer-policy"
  printf '%s\n%s\n' "built from the Go module proxy" "from GATEHOUSE_PULUMI_PLUGINS=$plugins_dir (sha256 checked)" > "$cache/sources"
}

official_install || from_plugins_and_modules
"$bin/pulumi" version > /dev/null || fail "the CLI in $bin does not run"
mv "$cache/sources" "$cache/complete"
{ read -r cli_source; read -r host_source; } < "$cache/complete"
done_with "$bin" "$cli_source" "$host_source"
