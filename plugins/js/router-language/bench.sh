#!/usr/bin/env bash
# Compares the JS backends inside the host: builds router-language with
# QuickJS and with StarlingMonkey, plus a trivial router (returns the first
# candidate) with each, to separate the per-call floor of a backend (fresh
# instance of its engine snapshot) from the routing work itself, then runs
# `switchyard bench` on each and prints the router's per-call series.
#
#   plugins/js/router-language/bench.sh [ITERATIONS]      # default 1000
#
# Needs: a built host (target/release/switchyard, or $SWITCHYARD), the Rust
# worker-draft component (cargo xtask plugins), and what build.sh needs for
# both backends (JS_BACKEND=sm installs ~390 MB of node_modules once).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
iterations="${1:-1000}"
switchyard="${SWITCHYARD:-$repo/target/release/switchyard}"
worker="$repo/plugins/rust/target/wasm32-wasip2/release/worker_draft.wasm"
wit="$repo/wit/node@0.2.0"

die() { echo "bench: error: $*" >&2; exit 1; }
[ -x "$switchyard" ] || die "no host at $switchyard; cargo build --release -p switchyard (or set SWITCHYARD)"
[ -f "$worker" ] || die "no $worker; build the Rust plugins first (cargo xtask plugins)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The real router, both backends (build.sh also sets up the tools).
JS_BACKEND=qjs "$here/build.sh" "$work/qjs" >/dev/null
JS_BACKEND=sm "$here/build.sh" "$work/sm" >/dev/null

# The trivial router, both backends.
cat >"$work/trivial.js" <<'EOF'
export const describe = { describe() { return { role: "router", name: "trivial", version: "0.0.0", summary: "first candidate", inputSchema: undefined, outputSchema: undefined }; } };
export const router = { route(task, candidates) { return { target: candidates[0], confidence: 1, reason: "first" }; } };
EOF
(cd "$here" && node_modules/.bin/componentize-qjs --wit "$wit" --world router-node --js "$work/trivial.js" \
    --sync --stub-wasi -o "$work/trivial-qjs.wasm" >/dev/null)
(cd "$here" && node --import ./sm-preopens.mjs node_modules/@bytecodealliance/componentize-js/src/cli.js \
    "$work/trivial.js" --wit "$wit" --world-name router-node -d stdio random clocks http fetch-event \
    -o "$work/trivial-sm.wasm" >/dev/null)

cat >"$work/tickets.jsonl" <<'EOF'
{"input": {"subject": "Invoice", "body": "Hi, I cannot find my invoice for March. Please help."}}
{"input": {"subject": "Factura", "body": "Hola, no puedo encontrar mi factura de marzo. ¿Me ayudan? Gracias."}}
{"input": {"subject": "Outage", "body": "Our production is down since 9:00, this is urgent!!!"}}
{"input": "Bonjour, je ne peux pas me connecter à mon compte."}
EOF

run() { # label component
    cat >"$work/bench.toml" <<EOF
[pipeline]
name = "router-language-bench"

[models.small]
provider = "sim"
sim = { seed = 1 }

[nodes.lang]
role = "router"
component = "$2"
branches = { en = "answer", es = "answer", urgent = "answer" }

[nodes.answer]
role = "worker"
component = "$worker"
models = ["small"]
settings = { model = "small" }
EOF
    local line
    line="$("$switchyard" bench "$work/bench.toml" -i "$work/tickets.jsonl" -n "$iterations" -c 4 \
        --cache-dir "$work/cache" 2>&1 | grep -E 'node lang|bare wasmtime' | tr -s ' ' | tr '\n' ';')"
    printf '%-24s %10s bytes  %s\n' "$1" "$(wc -c <"$2")" "$line"
}

echo "router per-call series (p50 µs, p99 µs, ops/s), $iterations iterations, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run "router-language qjs" "$work/qjs/router_language.wasm"
run "router-language sm" "$work/sm/router_language.wasm"
run "trivial qjs" "$work/trivial-qjs.wasm"
run "trivial sm" "$work/trivial-sm.wasm"
