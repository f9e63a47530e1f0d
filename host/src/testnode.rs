//! `switchyard test-node`: runs one component as a node on its own, with
//! `sim` models and manifest-style limits, and reports what it answered
//! (output, verdict or route), what it used, the model calls it made and
//! the time it took. The node is declared in a one-node manifest built
//! here, so it runs exactly as it would in a pipeline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::config::{ConfigError, Role, SourceFile};
use crate::engine::{
    exported_roles, LoadError, NodeCall, NodeEngine, NodeError, NodeOutput, RunScope, TaskInput,
    Usage,
};
use crate::models::{Ledger, LedgerEntry, ModelHub};

/// What to run.
#[derive(Debug, Clone)]
pub struct TestNodeOptions {
    /// The component.
    pub component: PathBuf,
    /// The task input (JSON).
    pub input: Value,
    /// Judges: the candidate to judge (JSON); defaults to the input.
    pub candidate: Option<Value>,
    /// Routers: the branch labels to choose from.
    pub candidates: Vec<String>,
    /// The node's settings.
    pub settings: serde_json::Map<String, Value>,
    /// `sim` models to grant, by name.
    pub models: Vec<String>,
    /// Limits, as manifest `limits` keys (`cpu-ms`, `memory-mb`, …).
    pub limits: Vec<(String, u64)>,
}

/// What happened.
#[derive(Debug, Serialize)]
pub struct TestNodeReport {
    /// The component.
    pub component: PathBuf,
    /// Its role (from its exports).
    pub role: Role,
    /// Its `describe` answer.
    pub description: crate::engine::Description,
    /// Component size in bytes.
    pub bytes: u64,
    /// What the node answered, or its typed error.
    #[serde(serialize_with = "ser_result")]
    pub result: Result<NodeOutput, NodeError>,
    /// Resources used.
    pub usage: Usage,
    /// Wall time of the invocation.
    #[serde(rename = "elapsed_ms", serialize_with = "ser_ms")]
    pub elapsed: Duration,
    /// Every model call it made.
    pub ledger: Vec<LedgerEntry>,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

fn ser_result<S: serde::Serializer>(
    r: &Result<NodeOutput, NodeError>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(2))?;
    match r {
        Ok(out) => {
            m.serialize_entry("ok", &true)?;
            m.serialize_entry("answer", out)?;
        }
        Err(e) => {
            m.serialize_entry("ok", &false)?;
            m.serialize_entry(
                "error",
                &serde_json::json!({"kind": e.kind(), "message": e.to_string()}),
            )?;
        }
    }
    m.end()
}

/// Why the node could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum TestNodeError {
    /// The component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// It exports no node role, or several.
    #[error("{path} exports {found}; a node component exports exactly one of `router`, `worker`, `judge`")]
    Role {
        /// The component.
        path: PathBuf,
        /// What it exports.
        found: String,
    },
    /// The one-node manifest was refused (a bad limit or setting).
    #[error(transparent)]
    Manifest(#[from] ConfigError),
    /// A router needs candidates.
    #[error("{0}")]
    Usage(String),
}

/// The node's name in the one-node manifest.
const NODE: &str = "under-test";
/// A router's branch target there (declared, never loaded).
const BRANCH: &str = "branch-target";

/// The role a component's exports give it (compiled through the cache).
pub fn role_of(engine: &NodeEngine, path: &Path) -> Result<Role, TestNodeError> {
    let (_, component) = engine.compile_file(NODE, path)?;
    match exported_roles(engine.wasmtime(), &component).as_slice() {
        [(_, role)] => Ok(*role),
        [] => Err(TestNodeError::Role {
            path: path.into(),
            found: "no node interface".into(),
        }),
        many => Err(TestNodeError::Role {
            path: path.into(),
            found: format!("{many:?}"),
        }),
    }
}

/// The one-node manifest for `opts`.
fn manifest_text(opts: &TestNodeOptions, role: Role) -> String {
    let mut doc = toml::Table::new();
    let mut pipeline = toml::Table::new();
    pipeline.insert("name".into(), "test-node".into());
    doc.insert("pipeline".into(), pipeline.into());
    let mut models = toml::Table::new();
    for m in &opts.models {
        let mut t = toml::Table::new();
        t.insert("provider".into(), "sim".into());
        models.insert(m.clone(), t.into());
    }
    doc.insert("models".into(), models.into());
    let mut node = toml::Table::new();
    node.insert("role".into(), role.as_str().into());
    node.insert(
        "component".into(),
        opts.component.display().to_string().into(),
    );
    node.insert(
        "models".into(),
        toml::Value::Array(opts.models.iter().map(|m| m.as_str().into()).collect()),
    );
    let settings: toml::Table = opts
        .settings
        .iter()
        .filter_map(|(k, v)| json_to_toml(v).map(|v| (k.clone(), v)))
        .collect();
    node.insert("settings".into(), settings.into());
    let limits: toml::Table = opts
        .limits
        .iter()
        .map(|(k, v)| (k.clone(), toml::Value::Integer(*v as i64)))
        .collect();
    node.insert("limits".into(), limits.into());
    let mut nodes = toml::Table::new();
    if role == Role::Router {
        // Branches need targets; this one is declared, never loaded.
        let branches: toml::Table = opts
            .candidates
            .iter()
            .map(|c| (c.clone(), toml::Value::String(BRANCH.into())))
            .collect();
        node.insert("branches".into(), branches.into());
        let mut target = toml::Table::new();
        target.insert("role".into(), "worker".into());
        target.insert("component".into(), "never-loaded.wasm".into());
        nodes.insert(BRANCH.into(), target.into());
    }
    nodes.insert(NODE.into(), node.into());
    doc.insert("nodes".into(), nodes.into());
    toml::to_string(&doc).expect("a TOML table serialises")
}

fn json_to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(json_to_toml).collect()),
        Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| json_to_toml(v).map(|v| (k.clone(), v)))
                .collect(),
        ),
    })
}

/// Runs the component once, as a node, and reports.
pub async fn test_node(
    engine: &NodeEngine,
    opts: &TestNodeOptions,
) -> Result<TestNodeReport, TestNodeError> {
    let role = role_of(engine, &opts.component)?;
    if role == Role::Router && opts.candidates.is_empty() {
        return Err(TestNodeError::Usage(
            "this component is a router: give the branch labels to choose from with --candidates a,b".into(),
        ));
    }
    let text = manifest_text(opts, role);
    let manifest = crate::config::parse(SourceFile::new("<test-node manifest>", text))?;
    let hub =
        ModelHub::from_env(&manifest.models).map_err(|e| TestNodeError::Usage(e.to_string()))?;
    let spec = manifest.nodes.get(NODE).expect("the one node");
    let component = engine
        .load_component_sized(
            NODE,
            role,
            &opts.component,
            spec.limits.stack_bytes as usize,
        )
        .await?;
    let ctx = Arc::new(crate::pipeline::context_of(spec));
    let task = TaskInput {
        id: "test-node".into(),
        input: opts.input.to_string(),
        meta: serde_json::json!({"node": NODE, "pipeline": "test-node"}).to_string(),
        attempt: 0,
        feedback: Vec::new(),
    };
    let call = match role {
        Role::Router => NodeCall::Route {
            task,
            candidates: opts.candidates.clone(),
        },
        Role::Worker => NodeCall::Run { task },
        Role::Judge => NodeCall::Judge {
            task,
            candidate: opts.candidate.as_ref().unwrap_or(&opts.input).to_string(),
        },
    };
    let ledger = Arc::new(Ledger::new());
    let scope = RunScope {
        hub: Arc::new(hub),
        ledger: ledger.clone(),
        budget: Arc::new(crate::models::RunBudget::new(
            manifest.budget,
            Default::default(),
        )),
        trace: None,
        attempt: 0,
    };
    let mut inv = engine.invoke(&component, ctx, scope, call, None).await;
    // A streamed reply is read to its end, as a pipeline would.
    if let Ok(NodeOutput::Stream(reply)) = &inv.result {
        inv.result = crate::engine::stream::collect(reply)
            .await
            .map(|v| NodeOutput::Output(v.to_string()))
            .map_err(|error| NodeError::Model {
                node: NODE.into(),
                error,
            });
    }
    Ok(TestNodeReport {
        component: opts.component.clone(),
        role,
        description: component.description.clone(),
        bytes: component.load.bytes,
        result: inv.result,
        usage: inv.usage,
        elapsed: inv.elapsed,
        ledger: ledger.entries(),
    })
}

impl std::fmt::Display for TestNodeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.description;
        writeln!(
            f,
            "{} {} {} ({}, {:.1} KiB): {}",
            self.role,
            d.name,
            d.version,
            self.component.display(),
            self.bytes as f64 / 1024.0,
            d.summary
        )?;
        match &self.result {
            Ok(NodeOutput::Output(s)) => writeln!(f, "output: {s}")?,
            Ok(NodeOutput::Stream(_)) => writeln!(f, "output: (a stream, not read)")?,
            Ok(NodeOutput::Route(r)) => writeln!(
                f,
                "route: {} (confidence {:.2}): {}",
                r.target, r.confidence, r.reason
            )?,
            Ok(NodeOutput::Verdict(v)) => match v {
                crate::engine::Verdict::Accept => writeln!(f, "verdict: accept")?,
                crate::engine::Verdict::Reject { reasons } => {
                    writeln!(f, "verdict: reject")?;
                    for r in reasons {
                        writeln!(f, "  - {r}")?;
                    }
                }
                crate::engine::Verdict::Repair { output } => {
                    writeln!(f, "verdict: repair → {output}")?
                }
            },
            Err(e) => writeln!(f, "error ({}): {e}", e.kind())?,
        }
        let u = &self.usage;
        writeln!(
            f,
            "used: {:.2} ms wall, {} ms CPU charged, {:.1} MiB peak memory, {} host call(s), {} log byte(s), {} model call(s)",
            self.elapsed.as_secs_f64() * 1e3,
            u.cpu_ticks,
            u.peak_memory as f64 / (1 << 20) as f64,
            u.host_calls,
            u.log_bytes,
            u.model_calls
        )?;
        for e in &self.ledger {
            writeln!(
                f,
                "model call: {} attempt {} → {} ({} in / {} out tokens, ${:.6}, {:.1} ms)",
                e.model,
                e.attempt,
                e.outcome,
                e.input_tokens,
                e.output_tokens,
                e.cost_pusd as f64 * 1e-12,
                e.latency_us as f64 / 1e3
            )?;
        }
        Ok(())
    }
}
