//! switchyard's integration tests: one binary, real components built from
//! source by `tests/build.rs`, `sim` models and local HTTP servers only.

mod batch_input;
mod batch_report;
mod bench;
mod capacity;
mod client_keys;
mod deploy;
mod example;
mod experiment;
mod faults;
mod flow;
mod fuzz_smoke;
mod graph;
mod hardening;
mod hostile;
mod improve;
mod improve_export;
mod improve_report;
mod layering;
mod loading;
mod manifest_errors;
mod observability;
mod openai;
mod polyglot;
mod publishing;
mod resilience;
mod resume;
mod sandbox;
mod scaffold;
mod scaleout;
mod serve;
mod status_page;
mod streaming;
mod test_node;
mod validate;
