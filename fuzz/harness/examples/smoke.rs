//! The stable smoke run of chosen targets, outside the test suite:
//! `cargo run -p switchyard-fuzz-harness --example smoke -- [TARGET...] [--seconds N]`
//! (every target, 10 s each, by default). A broken property panics with
//! the input kept in `target/fuzz/smoke-crash-<target>`.

use std::time::Duration;

use switchyard_fuzz_harness::{corpus, smoke, TARGETS};

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut seconds = 10;
    let mut only = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--seconds" {
            seconds = args
                .next()
                .and_then(|s| s.parse().ok())
                .expect("--seconds N");
        } else {
            only.push(a);
        }
    }
    let crashes = root.join("target/fuzz");
    std::fs::create_dir_all(&crashes).expect("target/fuzz");
    for (name, check) in TARGETS {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let seeds = corpus(&root.join("fuzz/corpus"), name);
        let crash = crashes.join(format!("smoke-crash-{name}"));
        let runs = smoke(*check, &seeds, Duration::from_secs(seconds), &crash);
        eprintln!("{name}: {runs} inputs in {seconds} s, no property broken");
    }
}
