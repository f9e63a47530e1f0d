//! `extra-json`: the provider parameters a node may add to its model
//! request. Only sampling parameters are allowed, by name and by shape.
//! Anything that would change which model answers, how many answers or
//! how long they are, streaming, or the messages — `model`, `max_tokens`,
//! `n`, `stream`, `messages`, `tools`, … — is refused as `invalid-request`
//! naming the key, before anything is reserved or sent, so a node can
//! never spend past its grant and budget through this escape hatch.

use serde_json::{Map, Value};

use super::types::ModelError;

/// Bytes of `extra-json` text a request may carry.
pub const MAX_EXTRA_BYTES: usize = 16 << 10;

/// The sampling parameters a node may set, with the shape each must have.
const ALLOWED: &[(&str, Shape)] = &[
    ("top_p", Shape::Number),
    ("top_k", Shape::Number),
    ("min_p", Shape::Number),
    ("seed", Shape::Number),
    ("presence_penalty", Shape::Number),
    ("frequency_penalty", Shape::Number),
    ("repetition_penalty", Shape::Number),
    ("stop", Shape::Stops),
    ("stop_sequences", Shape::Stops),
    ("logit_bias", Shape::Biases),
    ("user", Shape::ShortText),
];

#[derive(Clone, Copy)]
enum Shape {
    Number,
    /// A string or a list of at most 16 strings, each at most 256 bytes.
    Stops,
    /// An object of at most 1024 numbers.
    Biases,
    /// A string of at most 256 bytes.
    ShortText,
}

impl Shape {
    fn fits(self, v: &Value) -> bool {
        let short = |v: &Value| v.as_str().is_some_and(|s| s.len() <= 256);
        match self {
            Shape::Number => v.is_number(),
            Shape::Stops => {
                short(v)
                    || v.as_array()
                        .is_some_and(|a| a.len() <= 16 && a.iter().all(short))
            }
            Shape::Biases => v
                .as_object()
                .is_some_and(|m| m.len() <= 1024 && m.values().all(Value::is_number)),
            Shape::ShortText => short(v),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shape::Number => "a number",
            Shape::Stops => "a string or a list of at most 16 strings of at most 256 bytes",
            Shape::Biases => "an object of at most 1024 numbers",
            Shape::ShortText => "a string of at most 256 bytes",
        }
    }
}

/// Parses a node's `extra-json` text ("" for none) and checks every key
/// and value against the allow-list.
pub fn parse(text: &str) -> Result<Option<Map<String, Value>>, ModelError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_EXTRA_BYTES {
        return Err(ModelError::InvalidRequest(format!(
            "extra-json is {} bytes, over the bound of {MAX_EXTRA_BYTES}",
            text.len()
        )));
    }
    let map = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(ModelError::InvalidRequest(
                "extra-json must be a JSON object".into(),
            ))
        }
        Err(e) => {
            return Err(ModelError::InvalidRequest(format!(
                "extra-json is not valid JSON: {e}"
            )))
        }
    };
    for (key, value) in &map {
        let Some((_, shape)) = ALLOWED.iter().find(|(k, _)| k == key) else {
            let allowed: Vec<&str> = ALLOWED.iter().map(|(k, _)| *k).collect();
            return Err(ModelError::InvalidRequest(format!(
                "extra-json key `{}` is not allowed: a node may set only the sampling parameters {}; the model, the answer's length and count, streaming and the messages are the host's",
                crate::text::escape_control(key),
                allowed.join(", ")
            )));
        };
        if !shape.fits(value) {
            return Err(ModelError::InvalidRequest(format!(
                "extra-json `{key}` must be {}",
                shape.describe()
            )));
        }
    }
    Ok((!map.is_empty()).then_some(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match parse(text) {
            Err(ModelError::InvalidRequest(m)) => m,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn extra_allows_sampling_parameters() {
        let m = parse(r#"{"top_p": 0.5, "seed": 7, "stop": ["\n\n"], "logit_bias": {"50256": -100}, "user": "u1"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("  {} ").unwrap(), None);
    }

    #[test]
    fn extra_refuses_what_changes_model_size_count_streaming_or_messages() {
        for key in [
            "model",
            "max_tokens",
            "max_completion_tokens",
            "n",
            "stream",
            "stream_options",
            "messages",
            "tools",
            "response_format",
            "temperature",
            "logprobs",
            "system",
        ] {
            let m = refused(&format!("{{\"{key}\": 1}}"));
            assert!(m.contains(&format!("`{key}` is not allowed")), "{m}");
        }
        assert!(refused(r#"{"top_p": "high"}"#).contains("`top_p` must be a number"));
        assert!(refused(
            r#"{"stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}"#
        )
        .contains("`stop`"));
        assert!(refused("[1]").contains("JSON object"));
        assert!(refused("{").contains("not valid JSON"));
        let forged = refused("{\"x\\nERROR forged\": 1}");
        assert!(!forged.contains('\n'), "{forged}");
    }
}
