# syntax=docker/dockerfile:1
#
# The switchyard service image: the release `switchyard` binary plus the
# support-triage example and the Rust components it runs, so
#
#   DOCKER_BUILDKIT=1 docker build -t switchyard .
#   docker run --rm -p 8080:8080 switchyard
#
# serves the example on its built-in `sim` models, with no key. For a real
# deployment, mount your own manifest and pass its path (deploy/kubernetes,
# docs/deploy.md).
#
# The cache mounts below need BuildKit (the default builder of Docker 23+,
# or DOCKER_BUILDKIT=1).

############################################################################
# Builder: the host binary and the example's components.
############################################################################
FROM rust:1-bookworm AS builder

# rust:1-bookworm already has what the build needs beyond Rust: a C
# compiler for `ring` and the bundled zstd, and pkg-config. Nothing links
# OpenSSL (reqwest, oci-client and redis run on rustls: Cargo.lock has no
# openssl-sys), so neither stage needs libssl. The one addition is the
# guest target the components are built for.
RUN rustup target add wasm32-wasip2

WORKDIR /src
COPY . .

# Only the Rust plugins are built: they are every component
# examples/support-triage needs. `cargo xtask plugins` would also build the
# Python, JavaScript and C plugins of examples/multilingual-desk, which needs
# componentize-py (PyPI), Node with componentize-js (npm) and clang, lld,
# wasi-libc and libclang-rt-dev-wasm32 — a much larger builder for
# components that belong in a registry anyway (docs/publishing.md).
#
# The registry, the git checkouts and both target directories are BuildKit
# cache mounts, so a rebuild compiles only what changed (the first build
# compiles Wasmtime: about 10 minutes on 2 cores). A cache mount is not part
# of the image, so everything the runtime stage needs is copied to /out
# before this step ends:
# - the binary;
# - the example with its components, in the repository's layout: its
#   manifest names them ../../plugins/rust/target/wasm32-wasip2/release/<name>.wasm,
#   so under /opt/switchyard it runs unmodified;
# - empty directories for the compile cache and the component store, copied
#   into the runtime stage owned by its user (that stage has no shell to
#   mkdir or chown with).
RUN --mount=type=cache,id=switchyard-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=switchyard-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=switchyard-target,target=/src/target,sharing=locked \
    --mount=type=cache,id=switchyard-plugins-target,target=/src/plugins/rust/target,sharing=locked \
    set -eux; \
    cargo build --release --locked --package switchyard; \
    (cd plugins/rust && cargo build --release --locked --target wasm32-wasip2 --workspace); \
    install -D -m 0755 target/release/switchyard /out/usr/local/bin/switchyard; \
    mkdir -p /out/opt/switchyard/examples /out/opt/switchyard/plugins/rust/target/wasm32-wasip2/release; \
    cp -R examples/support-triage /out/opt/switchyard/examples/support-triage; \
    cp plugins/rust/target/wasm32-wasip2/release/*.wasm /out/opt/switchyard/plugins/rust/target/wasm32-wasip2/release/; \
    mkdir -p /out/cache /out/store

############################################################################
# Runtime.
############################################################################
# gcr.io/distroless/cc-debian12:nonroot rather than debian:bookworm-slim:
# Wasmtime and the Rust runtime need glibc and libgcc_s, which the `cc`
# variant carries, together with CA certificates and tzdata; it has no
# shell, no package manager and no setuid binaries, so there is much less in
# the image to patch or to use after a break-in, and its `nonroot` user
# (uid/gid 65532) comes built in. The cost: nothing to `docker exec` into
# (use `kubectl debug` with an ephemeral container) and no `sleep` binary,
# so the Kubernetes preStop pause uses the `sleep` lifecycle action
# (Kubernetes 1.30+) instead of an exec hook.
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /out/usr/local/bin/switchyard /usr/local/bin/switchyard
COPY --from=builder /out/opt/switchyard /opt/switchyard
COPY --from=builder --chown=65532:65532 /out/cache /var/cache/switchyard
COPY --from=builder --chown=65532:65532 /out/store /var/lib/switchyard/components

# Compiled components (keyed by the engine's compatibility hash and the
# component's digest: a restart with the volume kept skips compiling) and
# components pulled from registries by digest. Both are caches: losing them
# costs a compile or a pull, nothing else. The compile cache is memory-mapped
# executable, so do not mount it `noexec`.
ENV SWITCHYARD_CACHE_DIR=/var/cache/switchyard \
    SWITCHYARD_STORE=/var/lib/switchyard/components
VOLUME ["/var/cache/switchyard", "/var/lib/switchyard/components"]

USER 65532:65532
WORKDIR /opt/switchyard
EXPOSE 8080

# No HEALTHCHECK: the image has no HTTP client to run one with; orchestrators
# probe GET /healthz (liveness) and GET /readyz (readiness) themselves.
#
# `serve` handles SIGTERM itself (stops accepting, answers every run in
# flight, exits 0), so it runs as PID 1 with no init in front of it.
ENTRYPOINT ["switchyard"]
CMD ["serve", "/opt/switchyard/examples/support-triage/pipeline.toml", "--listen", "0.0.0.0:8080"]
