//! `sim`: a deterministic simulated model, the embedded default provider.
//!
//! The same seed and request always give the same answer, token counts and
//! injected faults. Latency is time-to-first-token plus a per-token time, and
//! is really slept so parallelism and deadlines behave as with a real model.
//! Answers in JSON mode are minimal instances of the requested schema;
//! with tools it calls one (see `models::tools`).
//! Streamed, the same answer comes in deltas of up to
//! [`TOKENS_PER_DELTA`] tokens, each released when its last token is due:
//! the first after the time to first token plus its own tokens, the end
//! at the same latency as the whole answer; a tool call comes whole in
//! the final event.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::types::{
    estimate_prompt_tokens, estimate_tokens, ChatRequest, ChatResponse, ChatRole, ModelError,
    ProviderError, ResponseFormat, Usage,
};
use super::{ModelProvider, ProviderStream, StreamEvent};
use crate::spec::SimSpec;

/// Tokens (of four characters) per streamed delta.
pub const TOKENS_PER_DELTA: usize = 4;

/// The simulated provider for one manifest model.
#[derive(Debug, Clone)]
pub struct SimProvider {
    spec: SimSpec,
}

impl SimProvider {
    /// A simulated model with these settings.
    pub fn new(spec: SimSpec) -> Self {
        Self { spec }
    }

    /// The answer for `req`, without sleeping: exposed so tests can check
    /// determinism cheaply.
    pub fn answer(&self, upstream: &str, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let mut rng = fastrand::Rng::with_seed(self.request_hash(upstream, req));
        // Faults are drawn per attempt, so a retry of a failed call can
        // succeed, deterministically; the answer itself does not change.
        let fault = fastrand::Rng::with_seed(
            self.request_hash(upstream, req)
                ^ u64::from(req.attempt).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        )
        .f64();
        let _ = rng.f64();
        if fault < self.spec.error_rate {
            return Err(ModelError::Unavailable(format!(
                "sim model `{upstream}`: injected fault"
            )));
        }
        // With tools (or after a tool result), a deterministic tool call
        // or an answer quoting the result.
        if let Some(answer) = super::tools::sim_answer(req) {
            return Ok(answer);
        }
        let last_user = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == ChatRole::User)
            .map_or("", |m| m.content.as_str());
        let mut content = match (&self.spec.reply, &req.format) {
            (Some(reply), _) => reply.clone(),
            (None, ResponseFormat::Text) => {
                prose(&mut rng, upstream, last_user, self.spec.echo_rate)
            }
            (None, ResponseFormat::JsonObject) => {
                json!({ "answer": prose(&mut rng, upstream, last_user, 0.0) }).to_string()
            }
            (None, ResponseFormat::JsonSchema(schema)) => {
                let schema: Value = serde_json::from_str(schema).map_err(|e| {
                    ModelError::InvalidRequest(format!("response json-schema is not JSON: {e}"))
                })?;
                instance_of(&schema, &mut rng, last_user).to_string()
            }
        };
        let mut finish_reason = "stop";
        if let Some(max) = req.max_tokens {
            let max_chars = (max as usize).saturating_mul(4);
            if matches!(req.format, ResponseFormat::Text) && content.chars().count() > max_chars {
                content = content.chars().take(max_chars).collect();
                finish_reason = "length";
            }
        }
        let usage = Usage {
            input_tokens: estimate_prompt_tokens(&req.messages),
            output_tokens: estimate_tokens(&content),
            estimated: false,
        };
        Ok(ChatResponse {
            content,
            usage,
            model: String::new(),
            finish_reason: Some(finish_reason.to_string()),
            tool_calls: Vec::new(),
        })
    }

    /// The latency the simulated model takes to produce `output_tokens`.
    pub fn latency(&self, output_tokens: u64) -> Duration {
        self.spec.ttft + self.spec.per_token * u32::try_from(output_tokens).unwrap_or(u32::MAX)
    }

    fn request_hash(&self, upstream: &str, req: &ChatRequest) -> u64 {
        let mut h = Fnv1a::new(self.spec.seed);
        h.write(upstream.as_bytes());
        for m in &req.messages {
            h.write(&[m.role as u8]);
            h.write(m.content.as_bytes());
            h.write(&[0xff]);
        }
        h.write(&req.max_tokens.unwrap_or(0).to_le_bytes());
        h.write(&req.temperature.unwrap_or(-1.0).to_le_bytes());
        h.finish()
    }
}

#[async_trait]
impl ModelProvider for SimProvider {
    async fn complete(
        &self,
        upstream: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let answer = self.answer(upstream, req);
        let tokens = answer.as_ref().map_or(0, |a| a.usage.output_tokens);
        let latency = self.latency(tokens);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        answer.map_err(fault)
    }

    async fn stream(
        &self,
        upstream: &str,
        req: &ChatRequest,
    ) -> Result<ProviderStream, ProviderError> {
        use futures::StreamExt;
        let start = Instant::now();
        let answer = match self.answer(upstream, req) {
            Ok(a) => a,
            Err(e) => {
                // A fault comes after the time to first token, as a 503
                // would.
                tokio::time::sleep(self.spec.ttft).await;
                return Err(fault(e));
            }
        };
        let pieces = pieces(&answer.content);
        let mut due = start + self.spec.ttft;
        let mut events = Vec::with_capacity(pieces.len() + 1);
        for p in pieces {
            due += self.spec.per_token * u32::try_from(estimate_tokens(&p)).unwrap_or(u32::MAX);
            events.push((due, StreamEvent::Delta(p)));
        }
        if !answer.tool_calls.is_empty() {
            // Tool calls are generated tokens too: the end comes at the
            // whole answer's latency.
            due = due.max(start + self.latency(answer.usage.output_tokens));
        }
        events.push((
            due,
            StreamEvent::Done {
                usage: Some(answer.usage),
                finish_reason: answer.finish_reason,
                tool_calls: answer.tool_calls,
            },
        ));
        Ok(futures::stream::iter(events)
            .then(|(due, ev)| async move {
                tokio::time::sleep_until(due.into()).await;
                Ok(ev)
            })
            .boxed())
    }
}

/// Injected faults are transient, like a real upstream's 503.
fn fault(e: ModelError) -> ProviderError {
    match e {
        ModelError::InvalidRequest(_) => ProviderError::permanent(e),
        other => ProviderError::transient(other),
    }
}

/// `text` in deltas of [`TOKENS_PER_DELTA`] tokens (whole characters).
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(TOKENS_PER_DELTA * 4)
        .map(|c| c.iter().collect())
        .collect()
}

/// FNV-1a, 64-bit: a tiny hash that is stable across Rust versions and
/// platforms (std's hashers promise neither), seeded by XOR.
struct Fnv1a(u64);

impl Fnv1a {
    fn new(seed: u64) -> Self {
        Self(0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

const OPENERS: &[&str] = &[
    "Thanks for getting in touch.",
    "Thank you for the detailed report.",
    "Sorry for the trouble, and thanks for your patience.",
    "Happy to help with this.",
    "Thanks for reaching out to us.",
];

const STEPS: &[&str] = &[
    "Please sign out and back in, then try again.",
    "You can change this under Settings > Account.",
    "I have escalated this to the responsible team and will update you within one business day.",
    "Our logs show the request reached us; we are checking why it failed.",
    "Could you send the exact time the problem happened so we can trace it?",
    "The change has been applied to your account.",
    "You will find the document under Billing > Invoices.",
    "This is a known issue and a fix is being rolled out.",
];

/// A short, plausible support-style answer that mentions the topic words.
fn prose(rng: &mut fastrand::Rng, upstream: &str, user: &str, echo_rate: f64) -> String {
    let mut words: Vec<&str> = user
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 6 && w.chars().all(char::is_alphabetic))
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words.dedup();
    let mut out = String::with_capacity(256);
    out.push_str(OPENERS[rng.usize(..OPENERS.len())]);
    if words.is_empty() {
        out.push(' ');
    } else {
        // The two longest words, lower-cased, written straight into the answer.
        out.push_str(" About your ");
        for (i, w) in words.iter().take(2).enumerate() {
            if i > 0 {
                out.push_str(" and ");
            }
            if w.is_ascii() {
                out.extend(w.chars().map(|c| c.to_ascii_lowercase()));
            } else {
                // Unicode's rules (a final sigma) need the whole word.
                out.push_str(&w.to_lowercase());
            }
        }
        out.push_str(": ");
    }
    let n = 1 + rng.usize(..3);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(STEPS[rng.usize(..STEPS.len())]);
    }
    if echo_rate > 0.0 && rng.f64() < echo_rate && !user.is_empty() {
        let quote: String = user.chars().take(160).collect();
        let _ = write!(out, " For reference, you wrote: \"{quote}\"");
    }
    let _ = write!(out, " — {upstream}");
    out
}

/// A minimal JSON value conforming to (the common subset of) `schema`.
fn instance_of(schema: &Value, rng: &mut fastrand::Rng, user: &str) -> Value {
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.is_empty() {
            return options[rng.usize(..options.len())].clone();
        }
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "object" => {
            let mut obj = serde_json::Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    obj.insert(k.clone(), instance_of(v, rng, user));
                }
            }
            Value::Object(obj)
        }
        "array" => {
            let item = schema
                .get("items")
                .cloned()
                .unwrap_or(json!({"type": "string"}));
            let n = schema
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1);
            Value::Array((0..n).map(|_| instance_of(&item, rng, user)).collect())
        }
        "integer" => {
            json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(0) + rng.i64(0..10))
        }
        "number" => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(0.0) + rng.f64()),
        "boolean" => json!(rng.bool()),
        "null" => Value::Null,
        _ => {
            let words: Vec<&str> = user.split_whitespace().take(8).collect();
            json!(if words.is_empty() {
                "n/a".to_string()
            } else {
                words.join(" ")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::types::ChatMessage;

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::new(ChatRole::User, text)],
            ..Default::default()
        }
    }

    #[test]
    fn sim_is_deterministic_for_a_seed() {
        let a = SimProvider::new(SimSpec {
            seed: 7,
            ..Default::default()
        });
        let b = SimProvider::new(SimSpec {
            seed: 7,
            ..Default::default()
        });
        let c = SimProvider::new(SimSpec {
            seed: 8,
            ..Default::default()
        });
        let prompts = [
            "reset my password please",
            "invoices are missing since the migration",
            "hello",
        ];
        let mut differs = false;
        for p in prompts {
            assert_eq!(a.answer("small", &req(p)), b.answer("small", &req(p)));
            differs |= a.answer("small", &req(p)) != c.answer("small", &req(p));
        }
        assert!(
            differs,
            "a different seed should change at least one answer"
        );
    }

    #[test]
    fn sim_error_rate_fails_about_that_fraction() {
        let p = SimProvider::new(SimSpec {
            seed: 1,
            error_rate: 0.25,
            ..Default::default()
        });
        let failures = (0..2000)
            .filter(|i| p.answer("m", &req(&format!("ticket {i}"))).is_err())
            .count();
        assert!(
            (400..600).contains(&failures),
            "{failures} failures of 2000 at rate 0.25"
        );
    }

    #[test]
    fn sim_latency_is_ttft_plus_per_token() {
        let p = SimProvider::new(SimSpec {
            ttft: Duration::from_millis(100),
            per_token: Duration::from_millis(2),
            ..Default::default()
        });
        assert_eq!(p.latency(50), Duration::from_millis(200));
    }

    fn collect(p: &SimProvider, r: &ChatRequest) -> (Vec<(Duration, String)>, StreamEvent) {
        use futures::StreamExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let start = Instant::now();
            let mut s = p.stream("m", r).await.unwrap();
            let mut deltas = Vec::new();
            while let Some(ev) = s.next().await {
                match ev.unwrap() {
                    StreamEvent::Delta(t) => deltas.push((start.elapsed(), t)),
                    done => return (deltas, done),
                }
            }
            panic!("no Done");
        })
    }

    #[test]
    fn sim_streams_the_whole_answer_at_its_pace() {
        let p = SimProvider::new(SimSpec {
            seed: 3,
            ttft: Duration::from_millis(60),
            per_token: Duration::from_millis(2),
            ..Default::default()
        });
        let r = req("my invoices disappeared after the migration");
        let whole = p.answer("m", &r).unwrap();
        let started = Instant::now();
        let (deltas, done) = collect(&p, &r);
        let total = started.elapsed();
        let text: String = deltas.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            text, whole.content,
            "streamed and whole answers are identical"
        );
        assert_eq!(
            done,
            StreamEvent::Done {
                usage: Some(whole.usage),
                finish_reason: whole.finish_reason.clone(),
                tool_calls: Vec::new(),
            }
        );
        assert!(deltas.len() > 3, "{} deltas", deltas.len());
        // The first delta after the time to first token (plus its own
        // tokens), then paced by tokens: never early, loosely bounded late.
        let first_due = Duration::from_millis(60 + 2 * TOKENS_PER_DELTA as u64);
        assert!(deltas[0].0 >= first_due, "{:?}", deltas[0].0);
        for w in deltas.windows(2) {
            assert!(w[1].0 >= w[0].0);
        }
        let latency = p.latency(whole.usage.output_tokens);
        assert!(total >= latency, "{total:?} < {latency:?}");
        assert!(total < latency + Duration::from_millis(500), "{total:?}");
        let mid = &deltas[deltas.len() / 2];
        let tokens_before: u64 = deltas[..=deltas.len() / 2]
            .iter()
            .map(|(_, t)| estimate_tokens(t))
            .sum();
        assert!(mid.0 >= Duration::from_millis(60 + 2 * tokens_before));
    }

    #[test]
    fn sim_stream_faults_like_its_whole_answer() {
        let p = SimProvider::new(SimSpec {
            seed: 1,
            error_rate: 0.5,
            ..Default::default()
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        for i in 0..40 {
            let r = req(&format!("ticket {i}"));
            let streamed = rt.block_on(p.stream("m", &r)).map(|_| ());
            assert_eq!(streamed.is_err(), p.answer("m", &r).is_err(), "ticket {i}");
        }
    }

    #[test]
    fn sim_tokens_follow_text_length() {
        let p = SimProvider::new(SimSpec {
            reply: Some("x".repeat(400)),
            ..Default::default()
        });
        let a = p.answer("m", &req(&"y".repeat(800))).unwrap();
        assert_eq!(a.usage.output_tokens, 100);
        assert_eq!(a.usage.input_tokens, 200 + 4 + 2);
    }

    #[test]
    fn sim_json_schema_answers_conform() {
        let p = SimProvider::new(SimSpec::default());
        let mut r = req("my order is late");
        r.format = ResponseFormat::JsonSchema(
            r#"{"type":"object","properties":{"category":{"enum":["billing","shipping"]},"urgent":{"type":"boolean"},"items":{"type":"array","items":{"type":"string"}}}}"#.into(),
        );
        let v: Value = serde_json::from_str(&p.answer("m", &r).unwrap().content).unwrap();
        assert!(["billing", "shipping"].contains(&v["category"].as_str().unwrap()));
        assert!(v["urgent"].is_boolean());
        assert!(v["items"].as_array().is_some_and(|a| !a.is_empty()));
    }
}
