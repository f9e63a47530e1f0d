//! What must hold at each boundary where untrusted bytes enter the host,
//! whatever the bytes: one function per fuzz target, which returns
//! normally for every input the host handles correctly (accepted, or
//! refused with a typed error) and panics on a violated property. The
//! libFuzzer targets in `fuzz/targets/` call these on nightly; the
//! stable [`smoke`] runner calls them over the seed corpora and mutations
//! of them, so a broken harness is caught by the ordinary test suite.
//!
//! `guest_returns` and `http` drive a served pipeline of scripted
//! components ([`fixture`], [`script`]); the others call parsers alone.

pub mod fixture;
mod guest;
mod http;
pub mod script;

pub use guest::{guest_returns, run_script};
pub use http::{http, respond};

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard::config::{ConfigError, SourceFile};
use switchyard::models::sse::SseParser;
use switchyard::models::{anthropic, openai, ChatMessage, ChatRequest, ChatRole};
use switchyard::schema::Schema;

/// A target: its name and its property check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by the name of its corpus directory and fuzz binary.
pub const TARGETS: &[Target] = &[
    ("manifest", manifest),
    ("schema", schema),
    ("openai_body", openai_body),
    ("anthropic_body", anthropic_body),
    ("sse", sse),
    ("guest_returns", guest_returns),
    ("http", http),
];

/// Manifest text → parse → resolve: never panics, and every error has a
/// location in the file (line and column) and a message.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = SourceFile::new("/fuzz/pipeline.toml", text);
    match switchyard::config::parse(source) {
        Ok(_) => {}
        Err(ConfigError::Invalid(diags)) => {
            assert!(!diags.is_empty(), "an invalid manifest with no diagnostic");
            for d in &diags {
                assert!(!d.message.trim().is_empty(), "a diagnostic with no message");
                assert!(
                    d.location.is_some(),
                    "a manifest error without a location: {}",
                    d.message
                );
            }
        }
        Err(ConfigError::Read { .. }) => panic!("parse read a file"),
    }
}

/// A JSON Schema and a value (the input split at its first NUL) → the
/// untrusted-schema path: compiled only within its bounds, then checked
/// within the validation budget.
pub fn schema(data: &[u8]) {
    let (schema, value) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"null"[..]),
    };
    let Ok(schema) = serde_json::from_slice::<Value>(schema) else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<Value>(value) else {
        return;
    };
    let Ok(compiled) = Schema::compile_untrusted(&schema) else {
        return;
    };
    let started = Instant::now();
    if let Err(errors) = compiled.check(&value) {
        assert!(!errors.is_empty(), "a failed check with no reason");
        assert!(errors.len() <= 5, "more than five reasons");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a bounded schema took {:?} to check",
        started.elapsed()
    );
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        messages: vec![ChatMessage::new(ChatRole::User, "hi")],
        max_tokens: Some(64),
        ..Default::default()
    }
}

/// An OpenAI-compatible answer body → the provider's parser: an answer or
/// a typed error, never a panic.
pub fn openai_body(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = openai::parse_response(text, &request());
}

/// An Anthropic Messages answer body → the provider's parser.
pub fn anthropic_body(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = anthropic::parse_response(text, &request());
}

/// A server-sent event stream, cut into chunks at every NUL byte of the
/// input → the bounded SSE parser: events or a typed error, and the same
/// events however the bytes are chunked.
pub fn sse(data: &[u8]) {
    let mut whole = Vec::new();
    let whole_result = SseParser::new().push(
        &data.iter().copied().filter(|b| *b != 0).collect::<Vec<_>>(),
        &mut whole,
    );
    let mut chunked = Vec::new();
    let mut parser = SseParser::new();
    let mut chunked_result = Ok(());
    for chunk in data.split(|b| *b == 0) {
        chunked_result = parser.push(chunk, &mut chunked);
        if chunked_result.is_err() {
            break;
        }
    }
    if whole_result.is_ok() && chunked_result.is_ok() {
        assert_eq!(
            whole, chunked,
            "events depend on how the bytes were chunked"
        );
    }
}

/// The seed corpus of `target` under `root` (`fuzz/corpus/<target>/`).
pub fn corpus(root: &Path, target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join(target)) {
        for e in entries.flatten() {
            if let Ok(bytes) = std::fs::read(e.path()) {
                out.push(bytes);
            }
        }
    }
    out
}

/// One random change to `input`: a byte flipped, inserted or removed, a
/// span duplicated, or a splice with `other`.
pub fn mutate(input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    match fastrand::u8(..5) {
        0 if !out.is_empty() => {
            let i = fastrand::usize(..out.len());
            out[i] ^= 1 << fastrand::u8(..8);
        }
        1 => {
            let i = fastrand::usize(..=out.len());
            out.insert(
                i,
                *b"{}[]\":,=\n\0 "
                    .get(fastrand::usize(..12))
                    .unwrap_or(&b'x'),
            );
        }
        2 if !out.is_empty() => {
            out.remove(fastrand::usize(..out.len()));
        }
        3 if !out.is_empty() => {
            let a = fastrand::usize(..out.len());
            let b = fastrand::usize(a..=out.len().min(a + 64));
            let span = out[a..b].to_vec();
            let at = fastrand::usize(..=out.len());
            out.splice(at..at, span);
        }
        _ => {
            let cut = fastrand::usize(..=out.len());
            let from = fastrand::usize(..=other.len());
            out.truncate(cut);
            out.extend_from_slice(&other[from..]);
        }
    }
    out
}

/// Runs `check` on every seed of `seeds`, then on mutations of them for
/// `time`; returns how many inputs it ran. A violated property panics,
/// with the input written to `crash` first.
pub fn smoke(check: fn(&[u8]), seeds: &[Vec<u8>], time: Duration, crash: &Path) -> u64 {
    let run = |input: &[u8]| {
        let _ = std::fs::write(crash, input);
        check(input);
    };
    let mut runs = 0u64;
    for s in seeds {
        run(s);
        runs += 1;
    }
    if seeds.is_empty() {
        return runs;
    }
    let started = Instant::now();
    let mut current = seeds[0].clone();
    while started.elapsed() < time {
        let other = &seeds[fastrand::usize(..seeds.len())];
        current = if fastrand::u8(..8) == 0 || current.len() > 1 << 16 {
            seeds[fastrand::usize(..seeds.len())].clone()
        } else {
            mutate(&current, other)
        };
        run(&current);
        runs += 1;
    }
    let _ = std::fs::remove_file(crash);
    runs
}
