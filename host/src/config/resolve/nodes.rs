//! The `[nodes.<name>]` and `[defaults]` sections: roles and the fields
//! each allows, components, grants, settings, limits, caches, judges,
//! `on-reject` policies, schemas, stream windows, judges' passing scores,
//! and references to nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use toml::Spanned;

use super::Resolver;
use crate::config::manifest::{NodeSpec, OnReject};
use crate::config::schema::{LimitsSection, ManifestFile, NodeSection, Role, SchemaSource};
use crate::config::source::{did_you_mean, Diagnostic};
use crate::spec::{
    CacheSpec, LateReject, Limits, ModelSpec, PolicyOverride, StreamSpec, WindowRule,
    DEFAULT_STACK_KB, MAX_STACK_KB, MAX_WINDOW, MIN_STACK_KB,
};

impl Resolver<'_> {
    /// Every limit must be positive; `stack-kb` must lie in the range
    /// the engine can honour.
    pub(super) fn check_limits(&mut self, section: &LimitsSection) {
        let fields = [
            ("memory-mb", &section.memory_mb),
            ("cpu-ms", &section.cpu_ms),
            ("wall-ms", &section.wall_ms),
            ("output-kb", &section.output_kb),
            ("log-kb", &section.log_kb),
            ("host-calls", &section.host_calls),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                if *v.get_ref() == 0 {
                    self.error(
                        v,
                        format!("`limits.{name}` is 0, so no invocation could run"),
                        "give a positive value, or leave it out for the default",
                    );
                }
            }
        }
        if let Some(v) = &section.stack_kb {
            if !(MIN_STACK_KB..=MAX_STACK_KB).contains(v.get_ref()) {
                self.error(
                    v,
                    format!(
                        "`limits.stack-kb` is {}, outside {MIN_STACK_KB}..={MAX_STACK_KB}",
                        v.get_ref()
                    ),
                    format!("the default is {DEFAULT_STACK_KB}; guests run on the host's worker threads, so at most {MAX_STACK_KB} KiB"),
                );
            }
        }
    }

    pub(super) fn node_ref(
        &mut self,
        file: &ManifestFile,
        from: &str,
        field: &str,
        target: &Spanned<String>,
        allowed: &[Role],
    ) -> bool {
        let t = target.get_ref();
        let Some((_, section)) = file.nodes.iter().find(|(k, _)| k.get_ref() == t) else {
            let names: Vec<&str> = file.nodes.keys().map(|k| k.get_ref().as_str()).collect();
            let hint = match did_you_mean(t, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known nodes are: {}", names.join(", ")),
            };
            self.error(
                target,
                format!("node `{from}`: `{field}` names unknown node `{t}`"),
                hint,
            );
            return false;
        };
        let role = *section.role.get_ref();
        if !allowed.contains(&role) {
            let want: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            self.error(
                target,
                format!("node `{from}`: `{field}` names `{t}`, a {role}, but needs a {}", want.join(" or ")),
                match field {
                    "judges" => "only judge nodes can gate an output".to_string(),
                    _ => "judges gate other nodes through `judges = [...]`; they are not steps of the flow".to_string(),
                },
            );
            return false;
        }
        true
    }

    pub(super) fn nodes(
        &mut self,
        file: &ManifestFile,
        models: &BTreeMap<String, ModelSpec>,
        defaults: Limits,
        trust_table: &super::trust::TrustTable,
    ) -> BTreeMap<String, NodeSpec> {
        let flow = [Role::Router, Role::Worker];
        let mut out = BTreeMap::new();
        if file.nodes.is_empty() {
            self.errors.push(
                Diagnostic::at(
                    self.src,
                    Some(file.pipeline.name.span()),
                    format!(
                        "pipeline `{}` declares no nodes",
                        file.pipeline.name.get_ref()
                    ),
                )
                .with_hint("add at least one [nodes.<name>] table with a role and a component"),
            );
        }
        for (name, n) in &file.nodes {
            let name_s = name.get_ref().clone();
            let role = *n.role.get_ref();
            self.check_role_fields(&name_s, role, n);
            let mut deps = Vec::new();
            for a in &n.after {
                if a.get_ref() == &name_s {
                    self.error(
                        a,
                        format!("node `{name_s}` lists itself in `after`"),
                        "remove it: a node cannot wait for itself",
                    );
                } else if self.node_ref(file, &name_s, "after", a, &flow)
                    && !deps.contains(a.get_ref())
                {
                    deps.push(a.get_ref().clone());
                }
            }
            // Implicit dependency: a router that branches to this node.
            for (router, section) in &file.nodes {
                if section.branches.values().any(|t| t.get_ref() == &name_s)
                    && !deps.contains(router.get_ref())
                {
                    deps.push(router.get_ref().clone());
                }
            }
            let mut branches = BTreeMap::new();
            for (label, target) in &n.branches {
                if self.node_ref(
                    file,
                    &name_s,
                    "branches",
                    target,
                    &[Role::Worker, Role::Router],
                ) {
                    branches.insert(label.clone(), target.get_ref().clone());
                }
            }
            let mut judges = Vec::new();
            for j in &n.judges {
                if self.node_ref(file, &name_s, "judges", j, &[Role::Judge]) {
                    judges.push(j.get_ref().clone());
                }
            }
            let mut granted = Vec::new();
            for m in &n.models {
                if models.contains_key(m.get_ref()) {
                    granted.push(m.get_ref().clone());
                } else if file.models.keys().any(|k| k.get_ref() == m.get_ref()) {
                    // Declared but invalid: already reported at the model.
                } else {
                    let names: Vec<&str> =
                        file.models.keys().map(|k| k.get_ref().as_str()).collect();
                    let hint = match did_you_mean(m.get_ref(), names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if names.is_empty() => {
                            "declare it in a [models.<name>] table".to_string()
                        }
                        None => format!("declared models are: {}", names.join(", ")),
                    };
                    self.error(
                        m,
                        format!("node `{name_s}` is granted unknown model `{}`", m.get_ref()),
                        hint,
                    );
                }
            }
            let mut settings = BTreeMap::new();
            for (k, v) in &n.settings {
                match serde_json::to_value(v) {
                    Ok(json) => {
                        settings.insert(k.clone(), json);
                    }
                    Err(e) => self.error(
                        &n.component,
                        format!("node `{name_s}`: setting `{k}` cannot be expressed as JSON: {e}"),
                        "use strings, numbers, booleans, arrays and tables (dates are not supported)",
                    ),
                }
            }
            let on_reject = self.on_reject(file, &name_s, role, n);
            let idle_timeout = self.idle_timeout(
                &format!("node `{name_s}`: `model-policy`"),
                n.model_policy.stream_idle_timeout_ms.as_ref(),
            );
            let mut model_policy = PolicyOverride {
                timeout: n.model_policy.timeout_ms.map(Duration::from_millis),
                idle_timeout,
                retries: n.model_policy.retries,
                fallback: None,
            };
            if let Some(chain) = &n.model_policy.fallback {
                let context = format!("node `{name_s}`: `model-policy.fallback`");
                let valid: Vec<String> = chain
                    .iter()
                    .filter(|f| self.model_ref(file, &context, f))
                    .map(|f| f.get_ref().clone())
                    .collect();
                model_policy.fallback = Some(valid);
            }
            let cache = n.cache.as_ref().map(|c| CacheSpec {
                ttl: Duration::from_millis(c.ttl_ms.unwrap_or(300_000)),
                max_entries: c.max_entries.unwrap_or(1000),
            });
            let budget = self.budget(&format!("node `{name_s}`"), n.budget.as_ref());
            let spend_limit = self.spend_limit(&format!("node `{name_s}`"), n.spend_limit.as_ref());
            let owner = format!("node `{name_s}`");
            let input_schema = self.schema(&owner, "input-schema", n.input_schema.as_ref());
            let output_schema = self.schema(&owner, "output-schema", n.output_schema.as_ref());
            let component = self.component_source(&name_s, n);
            let trust = self.node_trust(trust_table, &name_s, n);
            let stream = self.stream(&name_s, role, n);
            let min_score = self.min_score(&name_s, role, n);
            out.insert(
                name_s.clone(),
                NodeSpec {
                    name: name_s,
                    role,
                    component,
                    trust,
                    component_span: n.component.span(),
                    deps,
                    branches,
                    judges,
                    models: granted,
                    settings,
                    limits: {
                        self.check_limits(&n.limits);
                        defaults.overridden_by(&n.limits)
                    },
                    on_reject,
                    input_schema,
                    output_schema,
                    standby: false,
                    model_policy,
                    cache,
                    budget,
                    spend_limit,
                    stream,
                    min_score,
                },
            );
        }
        // A worker reached only through `escalate` waits on standby instead
        // of running as an entry node.
        let targets: BTreeSet<String> = out
            .values()
            .filter_map(|n| n.on_reject.escalate.clone())
            .collect();
        let depended_on: BTreeSet<String> =
            out.values().flat_map(|n| n.deps.iter().cloned()).collect();
        for n in out.values_mut() {
            n.standby = n.role == Role::Worker
                && n.deps.is_empty()
                && targets.contains(&n.name)
                && !depended_on.contains(&n.name);
        }
        out
    }

    pub(super) fn on_reject(
        &mut self,
        file: &ManifestFile,
        name: &str,
        role: Role,
        n: &NodeSection,
    ) -> OnReject {
        let Some(section) = &n.on_reject else {
            return OnReject::default();
        };
        if role != Role::Worker {
            self.error(
                section,
                format!("node `{name}` is a {role}; only workers have `on-reject`"),
                "remove `on-reject`, or gate a worker instead",
            );
            return OnReject::default();
        }
        let r = section.get_ref();
        let escalate = match &r.escalate {
            Some(t) if t.get_ref() == name => {
                self.error(
                    t,
                    format!("node `{name}` escalates to itself"),
                    "use `retries` to run the same node again, or escalate to another worker",
                );
                None
            }
            Some(t) => self
                .node_ref(file, name, "on-reject.escalate", t, &[Role::Worker])
                .then(|| t.get_ref().clone()),
            None => None,
        };
        let fallback = match &r.fallback {
            None => None,
            Some(v) => {
                match serde_json::to_value(v) {
                    Ok(json) => Some(json),
                    Err(e) => {
                        self.error(section, format!("node `{name}`: `on-reject.fallback` cannot be expressed as JSON: {e}"), "use strings, numbers, booleans, arrays and tables");
                        None
                    }
                }
            }
        };
        OnReject {
            retries: r.retries,
            escalate,
            fallback,
        }
    }

    pub(super) fn schema(
        &mut self,
        owner: &str,
        field: &str,
        source: Option<&Spanned<SchemaSource>>,
    ) -> Option<serde_json::Value> {
        let source = source?;
        let value = match source.get_ref() {
            SchemaSource::Inline(table) => match serde_json::to_value(table) {
                Ok(v) => v,
                Err(e) => {
                    self.error(
                        source,
                        format!("{owner}: `{field}` cannot be expressed as JSON: {e}"),
                        "write the schema as a JSON file and give its path",
                    );
                    return None;
                }
            },
            SchemaSource::File(path) => {
                let full = self.src.dir().join(path);
                let text = match std::fs::read_to_string(&full) {
                    Ok(t) => t,
                    Err(e) => {
                        self.error(
                            source,
                            format!(
                                "{owner}: cannot read `{field}` file {}: {e}",
                                full.display()
                            ),
                            "the path is relative to the manifest",
                        );
                        return None;
                    }
                };
                match serde_json::from_str(&text) {
                    Ok(v) => v,
                    Err(e) => {
                        self.error(
                            source,
                            format!(
                                "{owner}: `{field}` file {} is not JSON: {e}",
                                full.display()
                            ),
                            "a schema file holds one JSON Schema object",
                        );
                        return None;
                    }
                }
            }
        };
        if let Err(e) = crate::schema::Schema::compile(&value) {
            self.error(
                source,
                format!("{owner}: `{field}` is not a valid JSON Schema: {e}"),
                "see https://json-schema.org/understanding-json-schema/",
            );
            return None;
        }
        Some(value)
    }

    /// A worker's `stream` table: the window and the late-rejection rule.
    pub(super) fn stream(&mut self, name: &str, role: Role, n: &NodeSection) -> StreamSpec {
        let Some(section) = &n.stream else {
            return StreamSpec::default();
        };
        if role != Role::Worker {
            self.error(
                section,
                format!("node `{name}` is a {role}; only workers stream"),
                "remove `stream` here; a worker that replies with a model stream takes it",
            );
            return StreamSpec::default();
        }
        let s = section.get_ref();
        let size = |this: &mut Self, kind: &str| -> u32 {
            match &s.size {
                Some(v) if (1..=MAX_WINDOW).contains(v.get_ref()) => *v.get_ref(),
                Some(v) => {
                    this.error(
                        v,
                        format!(
                            "node `{name}`: `stream.size` is {}, outside 1..={MAX_WINDOW}",
                            v.get_ref()
                        ),
                        format!("give the window's size in {kind}, e.g. size = 200"),
                    );
                    1
                }
                None => {
                    this.error(
                        section,
                        format!("node `{name}`: a `{kind}` window needs `stream.size`"),
                        format!("add size = <{kind} per window>, e.g. size = 200"),
                    );
                    1
                }
            }
        };
        let window = match s.window.as_ref().map(|w| w.get_ref().as_str()) {
            None | Some("sentence") => WindowRule::Sentence,
            Some("whole") => WindowRule::Whole,
            Some("chars") => WindowRule::Chars(size(self, "chars")),
            Some("tokens") => WindowRule::Tokens(size(self, "tokens")),
            Some(other) => {
                let w = s.window.as_ref().expect("matched Some");
                let hint = match did_you_mean(other, ["sentence", "chars", "tokens", "whole"]) {
                    Some(m) => format!("did you mean \"{m}\"?"),
                    None => "use \"sentence\", \"chars\", \"tokens\" or \"whole\"".into(),
                };
                self.error(
                    w,
                    format!("node `{name}`: unknown `stream.window` \"{other}\""),
                    hint,
                );
                WindowRule::Sentence
            }
        };
        if let (Some(v), WindowRule::Sentence | WindowRule::Whole) = (&s.size, window) {
            self.error(
                v,
                format!(
                    "node `{name}`: `stream.size` applies only to \"chars\" and \"tokens\" windows"
                ),
                "remove `size`, or set window = \"chars\" or \"tokens\"",
            );
        }
        let late_reject = match &s.late_reject {
            None => None,
            Some(l) => match l.get_ref().as_str() {
                "content-filter" => Some(LateReject::ContentFilter),
                "buffer" => Some(LateReject::Buffer),
                other => {
                    let hint = match did_you_mean(other, ["content-filter", "buffer"]) {
                        Some(m) => format!("did you mean \"{m}\"?"),
                        None => "use \"content-filter\" (end the stream with a typed event) or \"buffer\" (do not stream this worker)".into(),
                    };
                    self.error(
                        l,
                        format!("node `{name}`: unknown `stream.late-reject` \"{other}\""),
                        hint,
                    );
                    None
                }
            },
        };
        StreamSpec {
            window,
            late_reject,
        }
    }

    /// A judge's `min-score`: a finite number.
    pub(super) fn min_score(&mut self, name: &str, role: Role, n: &NodeSection) -> Option<f64> {
        let m = n.min_score.as_ref()?;
        if role != Role::Judge {
            self.error(
                m,
                format!("node `{name}` is a {role}; only judges have `min-score`"),
                "remove `min-score`, or set it on the judge that scores this node's output",
            );
            return None;
        }
        if !m.get_ref().is_finite() {
            self.error(
                m,
                format!("node `{name}`: `min-score` is not a finite number"),
                "give the lowest passing score, e.g. min-score = 0.7",
            );
            return None;
        }
        Some(*m.get_ref())
    }

    pub(super) fn check_role_fields(&mut self, name: &str, role: Role, n: &NodeSection) {
        match role {
            Role::Router if n.branches.is_empty() => self.error(
                &n.role,
                format!("router `{name}` has no `branches`"),
                "add branches = { label = \"target-node\", ... }; the router picks one label per task",
            ),
            Role::Worker | Role::Judge if !n.branches.is_empty() => {
                let first = n.branches.values().next().expect("non-empty");
                self.error(first, format!("node `{name}` is a {role}; only routers have `branches`"), "set role = \"router\", or remove `branches`");
            }
            _ => {}
        }
        if role == Role::Judge {
            if let Some(a) = n.after.first() {
                self.error(a, format!("judge `{name}` has `after`; judges are not steps of the flow"), "gate a node instead: add judges = [\"<this judge>\"] to the node whose output it checks");
            }
            if let Some(j) = n.judges.first() {
                self.error(
                    j,
                    format!("judge `{name}` is itself gated by judges"),
                    "judges cannot be gated; remove `judges` here",
                );
            }
        }
    }
}
