//! What each seed of `guest_returns` and `http` does, one line each:
//! `cargo run -p switchyard-fuzz-harness --example show`. For checking
//! that seeds reach the code they are meant to.

use switchyard_fuzz_harness::{respond, run_script, script::Script};

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let dir = |t: &str| {
        let mut v: Vec<_> = std::fs::read_dir(root.join(t))
            .expect("corpus")
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    for p in dir("guest_returns") {
        let script: Script =
            serde_json::from_slice(&std::fs::read(&p).expect("seed")).expect("a JSON script");
        let r = run_script(&script);
        let out = r.output.as_ref().map(|o| {
            let s = o.to_string();
            s.chars().take(80).collect::<String>()
        });
        let err = r.error.as_ref().map(|e| {
            format!(
                "{} {:?}: {}",
                e.kind,
                e.node,
                e.message.chars().take(160).collect::<String>()
            )
        });
        eprintln!(
            "{}: routes {:?} steps {} ledger {} events {} out {:?} err {:?}",
            p.file_name().unwrap().to_string_lossy(),
            r.routes,
            r.trace
                .iter()
                .map(|s| format!("{}:{}", s.node, s.outcome))
                .collect::<Vec<_>>()
                .join(","),
            r.ledger.len(),
            r.events.len(),
            out,
            err
        );
    }
    for p in dir("http") {
        let (status, body) = respond(&std::fs::read(&p).expect("seed")).expect("a request");
        eprintln!(
            "{}: {status} {}",
            p.file_name().unwrap().to_string_lossy(),
            String::from_utf8_lossy(&body)
                .chars()
                .take(160)
                .collect::<String>()
        );
    }
}
