#!/usr/bin/env bash
# Builds {{name}} (Rust, world {{world}}) into build/{{snake}}.wasm and runs
# its native unit tests.
set -euo pipefail
cd "$(dirname "$0")"
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo test --quiet --lib
cargo build --release --target wasm32-wasip2
mkdir -p build
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{snake}}.wasm" build/{{snake}}.wasm
echo "built build/{{snake}}.wasm"
