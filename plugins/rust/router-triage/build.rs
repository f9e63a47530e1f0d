//! Trains the naive-Bayes model from `data/train.jsonl` at build time and
//! writes it as a static table (`$OUT_DIR/model.rs`) compiled into the
//! component. No training data ships in the component, only statistics.

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[path = "src/features.rs"]
mod features;

fn main() {
    println!("cargo:rerun-if-changed=data/train.jsonl");
    println!("cargo:rerun-if-changed=src/features.rs");
    let data = std::fs::read_to_string("data/train.jsonl").expect("data/train.jsonl is readable");
    // counts[token] = (simple, complex)
    let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut docs = [0u32; 2];
    let mut totals = [0u32; 2];
    for (i, line) in data
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("train.jsonl line {}: {e}", i + 1));
        let text = v["text"]
            .as_str()
            .unwrap_or_else(|| panic!("train.jsonl line {}: no text", i + 1));
        let class = match v["label"].as_str() {
            Some("simple") => 0,
            Some("complex") => 1,
            other => panic!(
                "train.jsonl line {}: label {other:?} is not simple/complex",
                i + 1
            ),
        };
        docs[class] += 1;
        for f in features::features(text) {
            let c = counts.entry(f).or_default();
            if class == 0 {
                c.0 += 1
            } else {
                c.1 += 1
            }
            totals[class] += 1;
        }
    }
    // Drop singletons: they add size and mostly noise.
    counts.retain(|_, (s, c)| *s + *c >= 2);
    let vocab = counts.len() as f64;
    let log_p = |count: u32, class: usize| {
        ((f64::from(count) + 1.0) / (f64::from(totals[class]) + vocab)).ln()
    };
    let n = f64::from(docs[0] + docs[1]);
    let mut out = String::new();
    writeln!(out, "/// ln P(class) for simple, complex.").unwrap();
    writeln!(
        out,
        "pub const PRIOR: [f32; 2] = [{:?}, {:?}];",
        (f64::from(docs[0]) / n).ln() as f32,
        (f64::from(docs[1]) / n).ln() as f32
    )
    .unwrap();
    writeln!(out, "/// Training examples per class.").unwrap();
    writeln!(
        out,
        "pub const DOCS: [u32; 2] = [{}, {}];",
        docs[0], docs[1]
    )
    .unwrap();
    writeln!(
        out,
        "/// (token, ln P(token|simple), ln P(token|complex)), sorted by token."
    )
    .unwrap();
    writeln!(out, "pub static VOCAB: &[(&str, f32, f32)] = &[").unwrap();
    for (tok, (s, c)) in &counts {
        writeln!(
            out,
            "    ({tok:?}, {:?}, {:?}),",
            log_p(*s, 0) as f32,
            log_p(*c, 1) as f32
        )
        .unwrap();
    }
    writeln!(out, "];").unwrap();
    let path = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("model.rs");
    std::fs::write(path, out).unwrap();
}
