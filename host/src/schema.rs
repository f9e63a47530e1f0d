//! JSON Schemas on pipeline edges: compiling a schema once and checking
//! values against it, with errors phrased for judge-style reasons
//! (`at /path: message`).

use std::sync::Arc;

use serde_json::Value;

/// A compiled JSON Schema. Cheap to clone.
#[derive(Clone)]
pub struct Schema {
    validator: Arc<jsonschema::Validator>,
    source: Arc<Value>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schema({})", self.source)
    }
}

/// At most this many violations are reported per check.
const MAX_REPORTED: usize = 5;

impl Schema {
    /// Compiles `schema`; the error says what is wrong with it.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
        Ok(Self {
            validator: Arc::new(validator),
            source: Arc::new(schema.clone()),
        })
    }

    /// The schema as JSON.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Checks `value`; on failure, one line per violation (at most five).
    pub fn check(&self, value: &Value) -> Result<(), Vec<String>> {
        if self.validator.is_valid(value) {
            return Ok(());
        }
        let mut out: Vec<String> = self
            .validator
            .iter_errors(value)
            .take(MAX_REPORTED)
            .map(|e| {
                let path = e.instance_path().to_string();
                let at = if path.is_empty() {
                    "/".to_string()
                } else {
                    path
                };
                format!("at {at}: {}", e.masked())
            })
            .collect();
        if out.is_empty() {
            out.push("does not match the schema".into());
        }
        Err(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_check_reports_paths() {
        let s = Schema::compile(&json!({"type": "object", "required": ["reply"], "properties": {"n": {"type": "integer"}}})).unwrap();
        assert!(s.check(&json!({"reply": "x", "n": 3})).is_ok());
        let errs = s.check(&json!({"n": "three"})).unwrap_err();
        assert!(errs.iter().any(|e| e.contains("reply")), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("at /n:")), "{errs:?}");
        assert!(Schema::compile(&json!({"type": 12})).is_err());
    }
}
