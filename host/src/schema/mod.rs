//! JSON Schemas on pipeline edges: compiling a schema once and checking
//! values against it, with errors phrased for judge-style reasons
//! (`at /path: message`). A schema a component declares about itself is
//! untrusted: it is bounded at load ([`bounds`]) and, when a check could
//! be expensive, run on the blocking pool within a time budget so it can
//! never stall the async workers. Schemas from the manifest are trusted.

pub mod bounds;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

/// A compiled JSON Schema. Cheap to clone.
#[derive(Clone)]
pub struct Schema {
    validator: Arc<jsonschema::Validator>,
    source: Arc<Value>,
    /// For an untrusted schema, its expanded size ([`bounds::check`]).
    untrusted_cost: Option<u64>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schema({})", self.source)
    }
}

/// At most this many violations are reported per check.
const MAX_REPORTED: usize = 5;

/// Checks of an untrusted schema estimated (expanded schema size × value
/// size) above this run on the blocking pool, not inline.
pub const INLINE_WORK: u64 = 100_000;

/// How long an offloaded check may take before the value is refused.
pub const CHECK_BUDGET: Duration = Duration::from_secs(2);

/// Offloaded checks running at once: one fewer than the machine's cores
/// (at least one), so they never crowd out the async workers.
fn offloaded() -> &'static Semaphore {
    static SLOTS: std::sync::OnceLock<Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new(cores.saturating_sub(1).max(1))
    })
}

/// Why a value could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The value does not match; one reason per violation.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Checking took longer than its budget.
    #[error("checking the value against the component's own schema took over {} ms (the validation budget)", .0.as_millis())]
    Budget(Duration),
}

impl Schema {
    /// Compiles a trusted `schema` (from the manifest); the error says what
    /// is wrong with it.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
        Ok(Self {
            validator: Arc::new(validator),
            source: Arc::new(schema.clone()),
            untrusted_cost: None,
        })
    }

    /// Compiles an untrusted `schema` (a component's own), after checking
    /// it against every bound.
    pub fn compile_untrusted(schema: &Value) -> Result<Self, String> {
        let cost = bounds::check(schema).map_err(|e| e.to_string())?;
        let mut s = Self::compile(schema)?;
        s.untrusted_cost = Some(cost);
        Ok(s)
    }

    /// The schema as JSON.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Checks `value`; on failure, one line per violation (at most five).
    /// Runs inline: for trusted schemas, and for untrusted ones where the
    /// caller has bounded the work.
    pub fn check(&self, value: &Value) -> Result<(), Vec<String>> {
        if self.validator.is_valid(value) {
            return Ok(());
        }
        let errors: Vec<String> = if self.untrusted_cost.is_some() {
            // Collecting every error of an untrusted schema can be costly
            // (each failed `anyOf` branch keeps its own); the first will do.
            self.validator
                .validate(value)
                .err()
                .map(|e| reason(&e))
                .into_iter()
                .collect()
        } else {
            self.validator
                .iter_errors(value)
                .take(MAX_REPORTED)
                .map(|e| reason(&e))
                .collect()
        };
        if errors.is_empty() {
            return Err(vec!["does not match the schema".into()]);
        }
        Err(errors)
    }

    /// Checks `value` without ever blocking an async worker for long: a
    /// check of an untrusted schema whose estimated work is past
    /// [`INLINE_WORK`] runs on the blocking pool, and a value it cannot
    /// finish within [`CHECK_BUDGET`] is refused.
    pub async fn check_bounded(&self, value: &Value) -> Result<(), CheckError> {
        let Some(cost) = self.untrusted_cost else {
            return self.check(value).map_err(CheckError::Invalid);
        };
        let nodes = bounds::value_nodes(value, INLINE_WORK);
        if cost.saturating_mul(nodes) <= INLINE_WORK {
            return self.check(value).map_err(CheckError::Invalid);
        }
        let work = async {
            // The slot travels with the check, so a check past its budget
            // still holds it until it ends.
            let slot = offloaded().acquire().await.ok();
            let (schema, value) = (self.clone(), value.clone());
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                schema.check(&value)
            })
            .await
            .unwrap_or_else(|e| Err(vec![format!("the check failed: {e}")]))
        };
        match tokio::time::timeout(CHECK_BUDGET, work).await {
            Ok(r) => r.map_err(CheckError::Invalid),
            Err(_) => Err(CheckError::Budget(CHECK_BUDGET)),
        }
    }
}

fn reason(e: &jsonschema::ValidationError<'_>) -> String {
    let path = e.instance_path().to_string();
    let at = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    format!("at {at}: {}", e.masked())
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

/// What `consumer` requires that values matching `producer` are not
/// guaranteed to give: a type the consumer does not take, or a required
/// property the producer does not require. Only what both schemas state
/// is compared (`type`, `required`, `properties`, recursively), so an
/// empty result means "no provable break", not "equivalent"; values are
/// still checked on every run.
pub fn edge_breaks(producer: &Value, consumer: &Value) -> Vec<String> {
    let mut out = Vec::new();
    compare(producer, consumer, "", &mut out, 0);
    out
}

fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn compare(producer: &Value, consumer: &Value, at: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    let here = if at.is_empty() { "/" } else { at };
    if let (Some(given), Some(taken)) = (types(producer), types(consumer)) {
        let fits = |t: &&str| taken.contains(t) || (*t == "integer" && taken.contains(&"number"));
        let extra: Vec<&str> = given.iter().filter(|t| !fits(t)).copied().collect();
        if !extra.is_empty() {
            out.push(format!(
                "at {here}: the output may be {}, but the consumer takes only {}",
                extra.join(" or "),
                taken.join(" or ")
            ));
            return;
        }
    }
    let names = |s: &Value, key: &str| -> Vec<String> {
        s.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let guaranteed = names(producer, "required");
    for field in names(consumer, "required") {
        if !guaranteed.contains(&field) {
            out.push(format!(
                "at {here}: the consumer requires `{field}`, which the output does not guarantee"
            ));
        }
    }
    if let (Some(Value::Object(given)), Some(Value::Object(taken))) =
        (producer.get("properties"), consumer.get("properties"))
    {
        for (name, taken_sub) in taken {
            if let Some(given_sub) = given.get(name) {
                compare(
                    given_sub,
                    taken_sub,
                    &format!("{at}/{name}"),
                    out,
                    depth + 1,
                );
            }
        }
    }
}

#[cfg(test)]
mod edge_tests {
    use super::edge_breaks;
    use serde_json::json;

    #[test]
    fn edge_breaks_finds_a_dropped_requirement_and_a_type_change() {
        let consumer = json!({"type": "object", "required": ["reply"],
            "properties": {"reply": {"type": "string"}, "n": {"type": "number"}}});
        let same = json!({"type": "object", "required": ["reply", "model"],
            "properties": {"reply": {"type": "string"}, "n": {"type": "integer"}}});
        assert!(edge_breaks(&same, &consumer).is_empty());

        let dropped = json!({"type": "object", "properties": {"reply": {"type": "string"}}});
        let b = edge_breaks(&dropped, &consumer);
        assert_eq!(
            b,
            ["at /: the consumer requires `reply`, which the output does not guarantee"]
        );

        let retyped = json!({"type": "object", "required": ["reply"],
            "properties": {"reply": {"type": ["string", "null"]}}});
        let b = edge_breaks(&retyped, &consumer);
        assert_eq!(
            b,
            ["at /reply: the output may be null, but the consumer takes only string"]
        );

        assert_eq!(edge_breaks(&json!({"type": "array"}), &consumer).len(), 1);
        assert!(
            edge_breaks(&json!({}), &consumer).len() == 1,
            "required not guaranteed"
        );
        assert!(edge_breaks(&dropped, &json!({})).is_empty());
    }
}
