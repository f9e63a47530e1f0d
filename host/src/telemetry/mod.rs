//! OpenTelemetry out: every finished run exported over OTLP/HTTP as a span
//! tree following the GenAI semantic conventions — the pipeline at the
//! root, each node invocation and attempt under it, each model call under
//! its invocation with tokens and exact cost, judges' verdicts as
//! evaluation events. `config` resolves where to (flag, manifest
//! `[telemetry]`, `OTEL_*` variables) and the sampler; `spans` maps a run
//! record to spans; `content` adds message content where a pipeline opts
//! in (redacted by a judge first, if it names one); `otlp` writes them as
//! OTLP protobuf; `export` queues runs and sends their spans without ever
//! slowing or failing a run.

mod config;
mod content;
mod export;
mod otlp;
mod spans;

pub use crate::spec::TelemetrySpec;
pub use config::{Root, Sampler, TelemetryConfig, TelemetryError};
pub use content::{Content, MAX_TEXT_BYTES};
pub use export::{Telemetry, BATCH_DELAY, BATCH_SPANS, EXPORT_TIMEOUT, QUEUE_RUNS};
pub use spans::{run_spans, ContentState, SCHEMA_URL, SEMCONV_VERSION};
