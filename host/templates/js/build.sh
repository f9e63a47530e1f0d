#!/usr/bin/env bash
# Builds {{name}} (JavaScript, world {{world}}: app.js on the kit
# switchyard-node.js) into build/{{snake}}.wasm with componentize-qjs
# (QuickJS), installed by npm on first use (or $COMPONENTIZE_QJS).
set -euo pipefail
cd "$(dirname "$0")"
qjs="${COMPONENTIZE_QJS:-}"
if [ -z "$qjs" ]; then
    qjs=node_modules/.bin/componentize-qjs
    if [ ! -x "$qjs" ]; then
        command -v npm >/dev/null || { echo "error: npm not found; install Node.js 18+ and npm" >&2; exit 1; }
        npm install --no-audit --no-fund >&2 || { echo "error: npm install failed (needs the npm registry)" >&2; exit 1; }
    fi
fi
mkdir -p build
"$qjs" --wit wit/node@0.2.0 --world {{world}} --js app.js --sync --stub-wasi -o build/{{snake}}.wasm >/dev/null
echo "built build/{{snake}}.wasm"
