#!/usr/bin/env bash
# Builds {{name}} (Python, world {{world}}: app.py on the kit
# switchyard_node.py) into build/{{snake}}.wasm with componentize-py, set up
# in .venv/ on first use (or $COMPONENTIZE_PY).
set -euo pipefail
cd "$(dirname "$0")"
py="${COMPONENTIZE_PY:-}"
if [ -z "$py" ]; then
    py=.venv/bin/componentize-py
    if ! "$py" --version >/dev/null 2>&1; then
        command -v python3 >/dev/null || { echo "error: python3 not found; install Python 3.10+" >&2; exit 1; }
        python3 -m venv .venv && .venv/bin/pip install -q --disable-pip-version-check componentize-py==0.25.1 ||
            { echo "error: could not install componentize-py==0.25.1 (pip; needs PyPI)" >&2; exit 1; }
    fi
fi
mkdir -p build
env -u VIRTUAL_ENV "$py" -q -d wit/node@0.2.0 -w {{world}} componentize app -p . --stub-wasi -o build/{{snake}}.wasm
echo "built build/{{snake}}.wasm"
