//! Bounds on the JSON Schemas a component declares about itself. Such a
//! schema is untrusted input: a few kilobytes of nested `anyOf`s of
//! `$ref`s can make validating one value take exponential time, and a
//! recursive or remote `$ref` can make it loop or reach outside. Before
//! the host compiles one, [`check`] bounds its depth, its `$ref`s and
//! combinator branches, and its size with every `$ref` expanded, which
//! bounds the work of validating any value against it to that size times
//! the value's. Schemas an operator declares in the manifest are trusted
//! and not bounded here.

use std::collections::HashMap;

use serde_json::Value;

/// Deepest nesting of JSON values in a schema.
pub const MAX_DEPTH: usize = 32;
/// Most `$ref`s in a schema.
pub const MAX_REFS: usize = 128;
/// Most `anyOf` / `oneOf` / `allOf` branches, counted over the schema.
pub const MAX_BRANCHES: usize = 256;
/// Most schema nodes once every `$ref` is expanded in place.
pub const MAX_EXPANDED: u64 = 20_000;

/// Keywords that change how `$ref`s resolve; a component's schema may not
/// use them (only the root may carry `$id` and `$schema`).
const REFUSED_KEYWORDS: &[&str] = &[
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$anchor",
];

/// Why a component's schema is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundError {
    /// Nested too deeply.
    #[error("it nests more than {MAX_DEPTH} levels deep")]
    Depth,
    /// Too many `$ref`s.
    #[error("it has {0} `$ref`s, over the bound of {MAX_REFS}")]
    Refs(usize),
    /// Too many combinator branches.
    #[error("it has {0} `anyOf`/`oneOf`/`allOf` branches, over the bound of {MAX_BRANCHES}")]
    Branches(usize),
    /// Too large once `$ref`s are expanded.
    #[error("it expands (following its `$ref`s) to more than {MAX_EXPANDED} schema nodes, which would make validating a value too expensive")]
    Expanded,
    /// A `$ref` that is not a local JSON Pointer.
    #[error("its `$ref` {0:?} is not a local JSON Pointer like \"#/$defs/name\"; a component's schema cannot refer outside itself")]
    NonLocalRef(String),
    /// A `$ref` to nothing.
    #[error("its `$ref` {0:?} points at nothing in the schema")]
    Dangling(String),
    /// A `$ref` that reaches itself.
    #[error("its `$ref` {0:?} is recursive")]
    Recursive(String),
    /// A keyword a component's schema may not use.
    #[error("it uses `{0}`, which changes how references resolve")]
    Keyword(String),
}

/// Checks `schema` against every bound; on success, its expanded size
/// (schema nodes with every `$ref` in place), the factor by which
/// validating a value may cost more than reading it.
pub fn check(schema: &Value) -> Result<u64, BoundError> {
    let mut refs = 0;
    let mut branches = 0;
    shape(schema, 0, &mut refs, &mut branches)?;
    if refs > MAX_REFS {
        return Err(BoundError::Refs(refs));
    }
    if branches > MAX_BRANCHES {
        return Err(BoundError::Branches(branches));
    }
    let mut memo = HashMap::new();
    let mut visiting = Vec::new();
    expanded(schema, schema, &mut memo, &mut visiting)
}

/// Depth, keywords and `$ref` form, counting refs and branches.
fn shape(
    v: &Value,
    depth: usize,
    refs: &mut usize,
    branches: &mut usize,
) -> Result<(), BoundError> {
    if depth > MAX_DEPTH {
        return Err(BoundError::Depth);
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if REFUSED_KEYWORDS.contains(&k.as_str()) || (k == "$id" && depth > 0) {
                    return Err(BoundError::Keyword(k.clone()));
                }
                if k == "$ref" {
                    *refs += 1;
                    match child.as_str() {
                        Some(r) if r == "#" || r.starts_with("#/") => {}
                        _ => return Err(BoundError::NonLocalRef(child.to_string())),
                    }
                }
                if matches!(k.as_str(), "anyOf" | "oneOf" | "allOf") {
                    *branches += child.as_array().map_or(0, Vec::len);
                }
                shape(child, depth + 1, refs, branches)?;
            }
        }
        Value::Array(items) => {
            for child in items {
                shape(child, depth + 1, refs, branches)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Nodes of `v` with every `$ref` expanded, memoised per target; errors
/// past [`MAX_EXPANDED`] or on a cycle. Recursion is bounded by the depth
/// bound times the number of `$ref`s.
fn expanded(
    root: &Value,
    v: &Value,
    memo: &mut HashMap<String, u64>,
    visiting: &mut Vec<String>,
) -> Result<u64, BoundError> {
    let mut total: u64 = 1;
    let mut add = |n: u64| -> Result<(), BoundError> {
        total = total.saturating_add(n);
        if total > MAX_EXPANDED {
            return Err(BoundError::Expanded);
        }
        Ok(())
    };
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    let r = child.as_str().unwrap_or_default().to_string();
                    add(target_size(root, &r, memo, visiting)?)?;
                } else {
                    add(expanded(root, child, memo, visiting)?)?;
                }
            }
        }
        Value::Array(items) => {
            for child in items {
                add(expanded(root, child, memo, visiting)?)?;
            }
        }
        _ => {}
    }
    Ok(total)
}

fn target_size(
    root: &Value,
    r: &str,
    memo: &mut HashMap<String, u64>,
    visiting: &mut Vec<String>,
) -> Result<u64, BoundError> {
    if let Some(n) = memo.get(r) {
        return Ok(*n);
    }
    if visiting.iter().any(|v| v == r) {
        return Err(BoundError::Recursive(r.to_string()));
    }
    let target = root
        .pointer(&r[1..])
        .ok_or_else(|| BoundError::Dangling(r.to_string()))?;
    visiting.push(r.to_string());
    let n = expanded(root, target, memo, visiting);
    visiting.pop();
    let n = n?;
    memo.insert(r.to_string(), n);
    Ok(n)
}

/// The number of JSON values in `v`, counting up to `cap`.
pub fn value_nodes(v: &Value, cap: u64) -> u64 {
    let mut n = 0u64;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += 1;
        if n >= cap {
            return cap;
        }
        match v {
            Value::Object(m) => stack.extend(m.values()),
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shape the attack used: level i is an `anyOf` of two `$ref`s to
    /// level i+1, 40 levels deep, a few kilobytes of text.
    fn ref_bomb(levels: usize) -> Value {
        let mut defs = serde_json::Map::new();
        for i in 0..levels {
            let next = format!("#/$defs/l{}", i + 1);
            defs.insert(
                format!("l{i}"),
                json!({"anyOf": [{"$ref": next}, {"type": "object", "$ref": next}]}),
            );
        }
        defs.insert(
            format!("l{levels}"),
            json!({"type": "string", "minLength": 3}),
        );
        json!({"$defs": defs, "$ref": "#/$defs/l0"})
    }

    #[test]
    fn bounds_refuse_an_exponential_ref_bomb_of_a_few_kilobytes() {
        let bomb = ref_bomb(40);
        assert!(bomb.to_string().len() < 4096);
        assert_eq!(check(&bomb), Err(BoundError::Expanded));
        // A small, legitimate use of the same constructs passes.
        assert!(check(&ref_bomb(3)).is_ok());
    }

    #[test]
    fn bounds_refuse_depth_refs_branches_remote_recursive_and_dangling() {
        let mut deep = json!("x");
        for _ in 0..40 {
            deep = json!({ "items": deep });
        }
        assert_eq!(check(&deep), Err(BoundError::Depth));
        let many: Vec<Value> = (0..300).map(|_| json!({"type": "string"})).collect();
        assert_eq!(
            check(&json!({ "anyOf": many })),
            Err(BoundError::Branches(300))
        );
        let refs: serde_json::Map<String, Value> = (0..130)
            .map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/s"})))
            .collect();
        assert_eq!(
            check(&json!({"properties": refs, "$defs": {"s": {"type": "string"}}})),
            Err(BoundError::Refs(130))
        );
        assert!(matches!(
            check(&json!({"$ref": "https://example.com/s.json"})),
            Err(BoundError::NonLocalRef(_))
        ));
        assert!(matches!(
            check(&json!({"$ref": "file:///etc/passwd"})),
            Err(BoundError::NonLocalRef(_))
        ));
        assert!(matches!(
            check(&json!({"$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"})),
            Err(BoundError::Recursive(_))
        ));
        assert!(matches!(
            check(&json!({"$ref": "#/$defs/missing"})),
            Err(BoundError::Dangling(_))
        ));
        assert!(matches!(
            check(&json!({"properties": {"a": {"$dynamicRef": "#x"}}})),
            Err(BoundError::Keyword(_))
        ));
    }

    #[test]
    fn bounds_measure_an_ordinary_schema_as_small() {
        let s = json!({"type": "object", "required": ["reply"],
            "properties": {"reply": {"type": "string", "maxLength": 2000}}});
        let n = check(&s).unwrap();
        assert!((5..50).contains(&n), "{n}");
        assert_eq!(value_nodes(&json!({"a": [1, 2, {"b": null}]}), 100), 6);
        assert_eq!(value_nodes(&json!([1, 2, 3, 4]), 3), 3);
    }
}
