//! Where and whether to export: the OTLP/HTTP traces endpoint, headers,
//! service name and sampler, from (first wins) a command-line flag, the
//! manifest's `[telemetry]` table, and the standard `OTEL_*` environment
//! variables. Export is off unless an endpoint is named somewhere.

use std::collections::HashMap;

use crate::spec::{TelemetrySpec, TraceId};

/// Which traces are recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
    /// This share of trace ids.
    Ratio(f64),
    /// A continued trace follows its caller's flag; a new one, the inner
    /// sampler.
    ParentBased(Root),
}

/// The sampler of new traces under [`Sampler::ParentBased`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Root {
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
    /// This share of trace ids.
    Ratio(f64),
}

impl Root {
    fn samples(self, trace: TraceId) -> bool {
        match self {
            Root::AlwaysOn => true,
            Root::AlwaysOff => false,
            Root::Ratio(r) => ratio_samples(r, trace),
        }
    }
}

/// The same decision for the same trace id everywhere: its low 8 bytes
/// against the ratio.
fn ratio_samples(ratio: f64, trace: TraceId) -> bool {
    let low = u64::from_be_bytes(trace.0[8..].try_into().expect("8 bytes"));
    ratio >= 1.0 || (ratio > 0.0 && (low as f64) < ratio * u64::MAX as f64)
}

impl Sampler {
    /// Whether to record the trace `trace`, whose caller asked `parent`
    /// (`None` for a new trace).
    pub fn samples(self, trace: TraceId, parent: Option<bool>) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::Ratio(r) => ratio_samples(r, trace),
            Sampler::ParentBased(root) => parent.unwrap_or_else(|| root.samples(trace)),
        }
    }
}

/// Why telemetry could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A sampler variable names no sampler.
    #[error("OTEL_TRACES_SAMPLER is `{0}`; use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio")]
    Sampler(String),
    /// A ratio is not in 0..=1.
    #[error("{what} is `{value}`; it must be a number from 0 to 1")]
    Ratio {
        /// Where it was set.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// The endpoint is not an http(s) URL.
    #[error("the OTLP endpoint `{0}` is not an http:// or https:// URL (from {1}); e.g. --otlp-endpoint http://localhost:4318")]
    Endpoint(String, &'static str),
    /// The exporter could not be built.
    #[error("cannot start the OTLP exporter: {0}")]
    Exporter(String),
}

/// Export settings, once resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// Full traces URL (ending in `/v1/traces` unless given as the
    /// traces endpoint itself).
    pub traces_url: String,
    /// Extra request headers (e.g. an API key for a hosted backend).
    pub headers: HashMap<String, String>,
    /// `service.name`.
    pub service_name: String,
    /// Which traces are recorded.
    pub sampler: Sampler,
}

impl TelemetryConfig {
    /// Resolves the settings from `flag` (e.g. `--otlp-endpoint`), the
    /// manifest's table and the environment (`env` looks a variable up);
    /// `Ok(None)` when no endpoint is named anywhere, or the
    /// environment turns tracing off (`OTEL_SDK_DISABLED=true`,
    /// `OTEL_TRACES_EXPORTER=none`).
    pub fn resolve(
        flag: Option<&str>,
        manifest: &TelemetrySpec,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, TelemetryError> {
        let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Ok(None);
        }
        let (traces_url, from) = if let Some(f) = flag {
            (traces_path(f), "--otlp-endpoint")
        } else if let Some(m) = &manifest.endpoint {
            (traces_path(m), "[telemetry] endpoint")
        } else if let Some(t) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            (t, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        } else if let Some(e) = set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            (traces_path(&e), "OTEL_EXPORTER_OTLP_ENDPOINT")
        } else {
            return Ok(None);
        };
        if !(traces_url.starts_with("http://") || traces_url.starts_with("https://")) {
            return Err(TelemetryError::Endpoint(traces_url, from));
        }
        let headers = set("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .or_else(|| set("OTEL_EXPORTER_OTLP_HEADERS"))
            .map(|h| parse_headers(&h))
            .unwrap_or_default();
        let service_name = manifest
            .service_name
            .clone()
            .or_else(|| set("OTEL_SERVICE_NAME"))
            .unwrap_or_else(|| "switchyard".to_string());
        let sampler = match manifest.sample_ratio {
            Some(r) if !(0.0..=1.0).contains(&r) => {
                return Err(TelemetryError::Ratio {
                    what: "[telemetry] sample-ratio",
                    value: r.to_string(),
                })
            }
            Some(r) => Sampler::ParentBased(Root::Ratio(r)),
            None => sampler_from_env(&set)?,
        };
        Ok(Some(Self {
            traces_url,
            headers,
            service_name,
            sampler,
        }))
    }
}

/// A base endpoint's traces URL: `/v1/traces` appended unless there.
fn traces_path(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

/// `key1=value1,key2=value2`, values percent-decoded.
fn parse_headers(s: &str) -> HashMap<String, String> {
    s.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn sampler_from_env(set: &impl Fn(&str) -> Option<String>) -> Result<Sampler, TelemetryError> {
    let ratio = || -> Result<f64, TelemetryError> {
        match set("OTEL_TRACES_SAMPLER_ARG") {
            None => Ok(1.0),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or(TelemetryError::Ratio {
                    what: "OTEL_TRACES_SAMPLER_ARG",
                    value: v,
                }),
        }
    };
    Ok(match set("OTEL_TRACES_SAMPLER").as_deref().map(str::trim) {
        None | Some("parentbased_always_on") => Sampler::ParentBased(Root::AlwaysOn),
        Some("always_on") => Sampler::AlwaysOn,
        Some("always_off") => Sampler::AlwaysOff,
        Some("traceidratio") => Sampler::Ratio(ratio()?),
        Some("parentbased_always_off") => Sampler::ParentBased(Root::AlwaysOff),
        Some("parentbased_traceidratio") => Sampler::ParentBased(Root::Ratio(ratio()?)),
        Some(other) => return Err(TelemetryError::Sampler(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn telemetry_is_off_without_an_endpoint_and_follows_precedence() {
        let none = TelemetrySpec::default();
        assert_eq!(
            TelemetryConfig::resolve(None, &none, env(&[])).unwrap(),
            None
        );
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=abc%20def,bad"),
            ("OTEL_SERVICE_NAME", "desk"),
        ];
        let c = TelemetryConfig::resolve(None, &none, env(&vars))
            .unwrap()
            .unwrap();
        assert_eq!(c.traces_url, "http://collector:4318/v1/traces");
        assert_eq!(c.headers["x-api-key"], "abc def");
        assert_eq!(c.service_name, "desk");
        assert_eq!(c.sampler, Sampler::ParentBased(Root::AlwaysOn));
        // The traces endpoint is used as it is.
        let traces = [("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom")];
        let c = TelemetryConfig::resolve(None, &none, env(&traces))
            .unwrap()
            .unwrap();
        assert_eq!(c.traces_url, "http://t:1/custom");
        // The manifest over the environment, the flag over both.
        let manifest = TelemetrySpec {
            endpoint: Some("http://m:4318".into()),
            service_name: Some("support".into()),
            sample_ratio: Some(0.25),
            ..TelemetrySpec::default()
        };
        let c = TelemetryConfig::resolve(None, &manifest, env(&vars))
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.traces_url.as_str(), c.service_name.as_str()),
            ("http://m:4318/v1/traces", "support")
        );
        assert_eq!(c.sampler, Sampler::ParentBased(Root::Ratio(0.25)));
        let c = TelemetryConfig::resolve(Some("http://f:9/v1/traces"), &manifest, env(&vars))
            .unwrap()
            .unwrap();
        assert_eq!(c.traces_url, "http://f:9/v1/traces");
        // Switched off by the environment.
        let off = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(
            TelemetryConfig::resolve(None, &none, env(&off)).unwrap(),
            None
        );
    }

    #[test]
    fn telemetry_settings_that_make_no_sense_are_refused() {
        let none = TelemetrySpec::default();
        let e = TelemetryConfig::resolve(Some("collector:4318"), &none, env(&[])).unwrap_err();
        assert!(e.to_string().contains("--otlp-endpoint"), "{e}");
        let bad = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
        ];
        assert!(TelemetryConfig::resolve(None, &none, env(&bad)).is_err());
        let bad = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ];
        assert!(TelemetryConfig::resolve(None, &none, env(&bad)).is_err());
    }

    #[test]
    fn telemetry_sampling_is_the_same_for_the_same_trace() {
        let t = TraceId::random();
        let s = Sampler::ParentBased(Root::Ratio(0.5));
        assert_eq!(s.samples(t, None), s.samples(t, None));
        assert!(s.samples(t, Some(true)));
        assert!(!s.samples(t, Some(false)));
        assert!(Sampler::Ratio(1.0).samples(t, None));
        assert!(!Sampler::Ratio(0.0).samples(t, None));
        let kept = (0..2000)
            .filter(|_| Sampler::Ratio(0.25).samples(TraceId::random(), None))
            .count();
        assert!((350..650).contains(&kept), "{kept} of 2000 at 0.25");
    }
}
