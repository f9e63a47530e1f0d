//! The fuzz targets' properties (`fuzz/harness`), smoke-run on stable in
//! the ordinary suite: every seed of each target's corpus, then random
//! mutations of them for a few seconds per target
//! (`SWITCHYARD_FUZZ_SMOKE_SECS`, default 4). A harness that no longer
//! builds or holds fails here; the long libFuzzer runs are
//! `cargo xtask fuzz` (docs/security.md, "Fuzzing").

use std::time::Duration;

use switchyard_fuzz_harness::{corpus, smoke, TARGETS};

#[test]
fn fuzz_smoke_every_target_holds_on_its_seeds_and_their_mutations() {
    let root = switchyard_tests::root().join("fuzz/corpus");
    let secs = std::env::var("SWITCHYARD_FUZZ_SMOKE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    for (name, check) in TARGETS {
        let seeds = corpus(&root, name);
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seed");
        let crash = dir.path().join(name);
        let runs = smoke(*check, &seeds, Duration::from_secs(secs), &crash);
        assert!(
            runs > seeds.len() as u64,
            "`{name}` ran no mutation in {secs} s"
        );
        eprintln!("fuzz smoke `{name}`: {runs} inputs in {secs} s, no property broken");
    }
}
