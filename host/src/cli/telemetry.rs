//! Starting trace export for `run` and `serve`: the `--otlp-endpoint`
//! flag, the manifest's `[telemetry]` table and the `OTEL_*` environment,
//! resolved into an exporter (or none).

use prometheus_client::metrics::counter::Counter;

use crate::spec::TelemetrySpec;
use crate::telemetry::{Telemetry, TelemetryConfig};

/// The exporter the flag, manifest and environment ask for, if any.
pub(super) fn start(
    flag: Option<&str>,
    manifest: &TelemetrySpec,
    dropped: Counter,
) -> anyhow::Result<Option<Telemetry>> {
    let Some(config) = TelemetryConfig::resolve(flag, manifest, |k| std::env::var(k).ok())? else {
        return Ok(None);
    };
    eprintln!("switchyard: exporting traces to {}", config.traces_url);
    Ok(Some(Telemetry::start(config, dropped)?))
}
