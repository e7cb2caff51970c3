#!/usr/bin/env bash
# Provides the Pulumi engine for this project and prints, as its last line, the
# directory to put first on PATH. That directory holds:
#   pulumi                         the CLI and engine (a wrapper that keeps it off the network)
#   pulumi-language-nodejs         the Node.js language host
#   pulumi-resource-pulumi-nodejs  launcher that serves dynamic providers from the program's node_modules
#   pulumi-analyzer-policy         launcher that runs Node.js policy packs
#   pulumi-resource-command        the command provider, also installed as the plugin version
#                                  package-lock.json's @pulumi/command asks for
#
# Sources, in order: already on PATH -> the cache outside the repo, keyed by
# version -> the official install through the Automation API (where the network
# allows it) -> `go build` from the Go module proxy. A second run is a no-op.
#
#   scripts/pulumi-toolchain.sh            provide the engine, print its directory
#   export PATH="$(scripts/pulumi-toolchain.sh | tail -1):$PATH"
#
# Environment: GATEHOUSE_TOOLCHAIN_CACHE (default ~/.cache/gatehouse/toolchain),
# PULUMI_HOME (plugin cache; default ~/.pulumi), GATEHOUSE_TOOLCHAIN_FROM_PATH=0
# to ignore a `pulumi` already on PATH, GATEHOUSE_TOOLCHAIN_OFFICIAL=0 to skip
# the official install.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "pulumi-toolchain: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
PULUMI_VERSION=3.274.1
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

# Defaults that keep every engine process off the network at run time. The
# wrapper below sets them too, so a `pulumi` typed by hand behaves the same.
export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}"

# 1. Already on PATH: a full distribution (CLI and the Node.js host beside it)
#    with the command plugin of our version installed.
if [ "${GATEHOUSE_TOOLCHAIN_FROM_PATH:-1}" != 0 ] && existing="$(command -v pulumi 2>/dev/null)"; then
  dir="$(cd "$(dirname "$existing")" && pwd)"
  if [ -x "$dir/pulumi-language-nodejs" ] && [ -x "$dir/pulumi-resource-pulumi-nodejs" ] &&
     { command -v pulumi-resource-command >/dev/null || "$existing" plugin ls --json 2>/dev/null | grep -q "\"name\": *\"command\", *\"kind\": *\"resource\", *\"version\": *\"$command_version\""; }; then
    say "using the Pulumi engine on PATH ($("$existing" version 2>/dev/null))"
    echo "$dir"
    exit 0
  fi
fi

# 2. The cache, keyed by the engine's and the command provider's versions and
#    by the Go sources this script builds (a change to them rebuilds).
sources_key="$(cd "$root/toolchain" && cat go.mod go.sum $(find cmd -type f -name '*.go' ! -name '*_test.go' | sort) | sha256sum | cut -c1-12)"
cache_root="${GATEHOUSE_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/toolchain}"
layout=3 # bump when this script lays the directory out differently
cache="$cache_root/pulumi-v$PULUMI_VERSION-command-v$command_version-$sources_key-$layout"
bin="$cache/bin"
if [ -f "$cache/complete" ]; then
  # The plugin cache (PULUMI_HOME) may have been emptied since: reinstall quietly.
  "$bin/pulumi" plugin ls --json 2>/dev/null | grep -q "\"name\": *\"command\"" ||
    "$bin/pulumi" plugin install --reinstall resource command "$command_version" --file "$bin/pulumi-resource-command" >/dev/null 2>&1 || true
  say "using the cached engine in $cache ($(cat "$cache/complete"))"
  echo "$bin"
  exit 0
fi

mkdir -p "$bin" "$cache/libexec"
exec 9>"$cache/.lock"
flock 9

# The launchers Pulumi's distribution ships beside the CLI. The dynamic-provider
# one is copied from the SDK module (the file Pulumi ships); the policy one is
# its sibling for run-policy-pack.
write_launchers() {
  local sdk_dir="$1"
  install -m 0755 "$sdk_dir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$cache/libexec/pulumi-resource-pulumi-nodejs"
  cat > "$cache/libexec/pulumi-analyzer-policy" <<'EOF'
#!/bin/sh
# Runs a Node.js policy pack with the @pulumi/pulumi found from the pack's directory.
PULUMI_RUN_SCRIPT_PATH=$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/run-policy-pack'))")
if [ -n "$PULUMI_RUN_SCRIPT_PATH" ]; then
    exec node "$PULUMI_RUN_SCRIPT_PATH" "$@"
fi
EOF
  chmod 0755 "$cache/libexec/pulumi-analyzer-policy"
}

# The CLI behind a wrapper that keeps it off the network unless told otherwise.
write_cli_wrapper() {
  cat > "$bin/pulumi" <<EOF
#!/bin/sh
# Gatehouse: the Pulumi CLI v$PULUMI_VERSION without update checks or automatic plugin downloads.
: "\${PULUMI_SKIP_UPDATE_CHECK:=true}"
: "\${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:=true}"
: "\${PULUMI_IGNORE_AMBIENT_PLUGINS:=true}"
export PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION PULUMI_IGNORE_AMBIENT_PLUGINS
exec "$cache/libexec/pulumi" "\$@"
EOF
  chmod 0755 "$bin/pulumi"
}

provenance=()

# 3. The official install through the Automation API: CLI, language host and
#    launchers as Pulumi ships them; then the official command plugin.
official_install() {
  [ "${GATEHOUSE_TOOLCHAIN_OFFICIAL:-1}" != 0 ] || return 1
  [ -f "$root/node_modules/@pulumi/pulumi/automation/index.js" ] || return 1
  local tmp="$cache/official"
  say "trying the official install of Pulumi v$PULUMI_VERSION (Automation API) ..."
  if ! (cd "$root" && timeout 120 node -e '
      require("@pulumi/pulumi/automation").PulumiCommand.install({ root: process.argv[1], version: process.argv[2] })
        .then(() => process.exit(0), (e) => { console.error(String(e.message || e).split("\n")[0]); process.exit(1); });
    ' "$tmp" "$PULUMI_VERSION") > "$cache/official.log" 2>&1; then
    say "official install unavailable: $(tail -1 "$cache/official.log" | cut -c1-160)"
    return 1
  fi
  cp "$tmp/bin/pulumi" "$cache/libexec/pulumi"
  for f in pulumi-language-nodejs pulumi-resource-pulumi-nodejs pulumi-analyzer-policy; do
    [ -e "$tmp/bin/$f" ] && install -m 0755 "$tmp/bin/$f" "$cache/libexec/$f"
  done
  provenance+=("cli+nodejs-host: official v$PULUMI_VERSION")
}

# 4. go build from the module proxy, in our wrapper module (toolchain/go.mod:
#    pkg/v3 and sdk/v3 at one version, the clipboard fork restated, since
#    `go install path@version` refuses pkg's replace directives).
export GOFLAGS="${GOFLAGS:-} -trimpath"
ldflags_version="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
go_build() { # <what> <output> <package> [ldflags] [how long a first build takes]
  local what="$1" out="$2" pkg="$3" extra="${4:-}" expect="${5:-}"
  say "building $what with $(go version | cut -d' ' -f3)${expect:+ ($expect)} ..."
  local t0=$SECONDS
  ( cd "$root/toolchain" && go build -mod=readonly -ldflags "-s -w $extra" -o "$out" "$pkg" ) > "$cache/build-$(basename "$out").log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && say "  still building $what ($((SECONDS - t0)) s)"
  done
  if ! wait "$pid"; then
    fail "could not build $what ($pkg) with $(go version | cut -d' ' -f3)" \
      "$(grep -m3 -E 'error|go: |cannot|refused|Forbidden' "$cache/build-$(basename "$out").log" || tail -3 "$cache/build-$(basename "$out").log")" \
      "full log: $cache/build-$(basename "$out").log"
  fi
  say "built $what in $((SECONDS - t0)) s"
}

build_from_modules() {
  command -v go >/dev/null || fail "no Go toolchain: the Pulumi engine is built with Go 1.26 from the Go module proxy" \
    "fix: install Go 1.26 (https://go.dev/dl/) and run scripts/pulumi-toolchain.sh again, or put a Pulumi CLI v3 distribution on PATH"
  local sdk_dir
  # Only what the builds need is fetched (go build fetches the rest): the
  # module graph also names versions the proxy refuses, which nothing links.
  # Downloaded before it is listed: `go list -m` prints an empty .Dir for a
  # module not yet in the module cache (every first run on a new machine).
  if ! (cd "$root/toolchain" && go mod download github.com/pulumi/pulumi/sdk/v3 >"$cache/modules.log" 2>&1) ||
     ! sdk_dir="$(cd "$root/toolchain" && go list -mod=readonly -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3 2>>"$cache/modules.log")" || [ -z "$sdk_dir" ]; then
    fail "cannot fetch the Pulumi modules from the Go module proxy ($(go env GOPROXY))" \
      "$(grep -m2 -E 'go: |Forbidden|dial|lookup' "$cache/modules.log" || tail -2 "$cache/modules.log")" \
      "fix: allow the Go module proxy, or put a Pulumi CLI v3 distribution on PATH"
  fi
  go_build "the Pulumi CLI v$PULUMI_VERSION" "$cache/libexec/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$ldflags_version" \
    "a first build takes 4 to 8 minutes on 2 cores; later ones use the Go build cache"
  # Pulumi's own Node.js host (module .../sdk/nodejs/cmd/pulumi-language-nodejs/v3)
  # is refused by the module proxy for every version: build ours, which runs
  # @pulumi/pulumi/cmd/run from the program's node_modules the same way.
  go_build "the Node.js language host" "$cache/libexec/pulumi-language-nodejs" ./cmd/pulumi-language-nodejs "$ldflags_version"
  write_launchers "$sdk_dir"
  provenance+=("cli: go build v$PULUMI_VERSION" "nodejs-host: Gatehouse's (toolchain/cmd/pulumi-language-nodejs)")
}

if ! official_install; then
  build_from_modules
fi
write_cli_wrapper
# The language host and launchers live beside the real binary, where the
# engine looks for bundled plugins; bin/ links to them, so the copy on PATH
# resolves to the same file and the engine has nothing to warn about.
for f in pulumi-language-nodejs pulumi-resource-pulumi-nodejs pulumi-analyzer-policy; do
  ln -sf "../libexec/$f" "$bin/$f"
done

# The command provider at the version @pulumi/command asks for: the official
# plugin where it can be had; else a build of github.com/pulumi/pulumi-command
# from the module proxy; else Gatehouse's stand-in, which follows the real
# provider's documented rules for command:local:Command (see its main.go).
command_provider() {
  # Downloaded into a plugin cache of its own: the user's may hold anything under that version.
  local official="$cache/official-plugins"
  if PULUMI_HOME="$official" PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=false timeout 120 "$bin/pulumi" plugin install resource command "$command_version" > "$cache/command-official.log" 2>&1 &&
     [ -x "$official/plugins/resource-command-v$command_version/pulumi-resource-command" ]; then
    cp "$official/plugins/resource-command-v$command_version/pulumi-resource-command" "$bin/pulumi-resource-command"
    provenance+=("command: official v$command_version")
    return
  fi
  local probe="$cache/command-module"
  mkdir -p "$probe"
  if (cd "$probe" && printf 'module probe\n\ngo 1.26\n' > go.mod &&
      go get "github.com/pulumi/pulumi-command/provider@v$command_version" && \
      go build -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$command_version" \
        -o "$bin/pulumi-resource-command" github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command) > "$cache/command-module.log" 2>&1; then
    provenance+=("command: go build v$command_version")
    return
  fi
  say "the command provider v$command_version cannot be built from the module proxy ($(grep -m1 -E 'go: ' "$cache/command-module.log" | cut -c1-200 || echo 'see command-module.log')): building Gatehouse's stand-in"
  go_build "the command provider stand-in v$command_version" "$bin/pulumi-resource-command" ./cmd/pulumi-resource-command "-X main.version=$command_version"
  provenance+=("command: Gatehouse's stand-in v$command_version (toolchain/cmd/pulumi-resource-command)")
}
command_provider
# --reinstall: a stand-in of an earlier build of ours may hold that version.
"$bin/pulumi" plugin install --reinstall resource command "$command_version" --file "$bin/pulumi-resource-command" > "$cache/command-install.log" 2>&1 ||
  fail "could not install the command plugin v$command_version into ${PULUMI_HOME:-$HOME/.pulumi}/plugins" "$(tail -2 "$cache/command-install.log")"

"$bin/pulumi" version > /dev/null || fail "the built CLI does not run: $cache/libexec/pulumi"
(IFS=';'; echo "${provenance[*]}") > "$cache/complete"
say "engine ready in $bin ($(cat "$cache/complete"))"
echo "$bin"
