//! What a manifest may say of trace export (`[telemetry]`): where to send
//! a pipeline's traces, under which service name, and which share of new
//! traces to record, and whether message content goes with them (and
//! which judge redacts it first). The flags and `OTEL_*` variables that
//! complete it are read by `telemetry`.

/// The manifest's `[telemetry]` table, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TelemetrySpec {
    /// OTLP/HTTP base endpoint, e.g. `http://localhost:4318`.
    pub endpoint: Option<String>,
    /// `service.name` of the exported resource.
    pub service_name: Option<String>,
    /// Share of new traces recorded (a continued trace follows its
    /// caller's choice).
    pub sample_ratio: Option<f64>,
    /// Export message content (the conventions' opt-in
    /// `gen_ai.input.messages` / `gen_ai.output.messages`). Off unless
    /// the manifest opts in.
    pub content: bool,
    /// The judge whose `repair` of the content is exported instead of the
    /// raw text; content it rejects without repairing is withheld.
    pub redact_with: Option<String>,
}
