# Everyday recipes. Each one calls `cargo xtask` or cargo directly, so
# nothing here is needed on a machine without `just`.

# List recipes.
default:
    @just --list

# Build the host (release).
build:
    cargo build --release -p switchyard

# Build every first-party plugin: Rust, Python, JavaScript, C (into plugins/rust/target and target/plugins).
plugins:
    cargo xtask plugins

# Run the whole test suite (builds plugins and fixtures first).
test:
    cargo xtask test

# cargo fmt --check and clippy -D warnings, host and guests.
lint:
    cargo xtask lint

# Run the support-triage example on sim models.
run:
    cargo xtask example

# Check the example manifest and load every component.
validate manifest="examples/support-triage/pipeline.toml": plugins
    cargo run --release -q -p switchyard -- validate {{manifest}}

# Measure sandbox and pipeline overhead (release build): the four-node
# shape against plain asyncio, then the examples' series.
bench:
    cargo xtask bench

# Only the four-node shape against plain asyncio, printed as ratios.
bench-shape:
    cargo xtask bench shape

# Serve a pipeline over HTTP (set SWITCHYARD_ADMIN_TOKEN to enable hot-swap).
serve manifest="examples/support-triage/pipeline.toml" listen="127.0.0.1:8080": plugins
    cargo run --release -q -p switchyard -- serve {{manifest}} --listen {{listen}} --watch
