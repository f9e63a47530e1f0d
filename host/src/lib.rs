//! switchyard: a host for compound AI systems.
//!
//! A pipeline is a graph of small sandboxed WebAssembly nodes — routers that
//! classify, workers that do one job, judges that check results — described
//! by a `pipeline.toml`. The host owns what must be trustworthy: the
//! sandbox ([`engine`]), model calls and their cost ([`models`]), the flow
//! ([`pipeline`]), batch runs ([`batch`]) and the command line ([`cli`]).
//! See ARCHITECTURE.md for the module map.

pub mod artifact;
pub mod batch;
pub mod bench;
pub mod cli;
pub mod config;
pub mod engine;
pub mod graph;
pub mod inspect;
pub mod keys;
pub mod loadgen;
pub mod models;
pub mod pipeline;
pub mod recording;
pub mod review;
pub mod scaffold;
pub mod schema;
pub mod serve;
pub mod spec;
pub mod state;
pub mod telemetry;
pub mod testnode;
pub mod text;
pub mod ttft;
