//! Checks a parsed [`ManifestFile`] and resolves it into a [`Manifest`]:
//! every reference names something that exists and has the right role,
//! provider settings fit their provider, numbers are in range, and the flow
//! is acyclic. Every problem is reported with its location and a hint.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::manifest::{BaselineSpec, ChatSpec, Manifest, NodeSpec, OnReject};
use super::schema::{
    BaselineSection, BudgetSection, ChatSection, LimitsSection, ManifestFile, ModelSection,
    NodeSection, Role, SchemaSource,
};
use super::source::{did_you_mean, Diagnostic, SourceFile};
use crate::spec::{
    BreakerSpec, BudgetSpec, CacheSpec, CallPolicy, Cost, Limits, ModelSpec, PolicyOverride, Price,
    ProviderSpec, SimSpec, DEFAULT_BACKOFF, DEFAULT_DEADLINE, DEFAULT_MAX_BACKOFF,
    DEFAULT_MODEL_TIMEOUT, DEFAULT_RETRIES, DEFAULT_STACK_KB, MAX_STACK_KB, MIN_STACK_KB,
};

/// Default Anthropic API base URL.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com/v1";

/// Resolves `file`, collecting every problem found (not just the first).
pub fn resolve(source: Arc<SourceFile>, file: ManifestFile) -> Result<Manifest, Vec<Diagnostic>> {
    let mut r = Resolver {
        src: &source,
        errors: Vec::new(),
    };
    let models = r.models(&file);
    r.check_limits(&file.defaults.limits);
    let defaults = Limits::default().overridden_by(&file.defaults.limits);
    let nodes = r.nodes(&file, &models, defaults);
    let order = r.order(&file, &nodes);
    let outputs = r.outputs(&file, &nodes);
    let deadline = file
        .pipeline
        .deadline_ms
        .as_ref()
        .map_or(DEFAULT_DEADLINE, |d| Duration::from_millis(*d.get_ref()));
    let budget = r.budget("the pipeline", file.pipeline.budget.as_ref());
    if file.pipeline.name.get_ref().trim().is_empty() {
        r.error(
            &file.pipeline.name,
            "`pipeline.name` is empty",
            "give the pipeline a short name such as \"support-triage\"",
        );
    }
    let chat = r.chat(&file.chat);
    let baseline = file.baseline.as_ref().and_then(|b| r.baseline(b, &models));
    let sample_input = file.pipeline.sample_input.as_ref().and_then(|v| {
        serde_json::to_value(v.get_ref())
            .map_err(|e| {
                r.error(
                    v,
                    format!("`pipeline.sample-input` cannot be expressed as JSON: {e}"),
                    "write it as a TOML table, string or array",
                )
            })
            .ok()
    });
    if r.errors.is_empty() {
        Ok(Manifest {
            chat,
            baseline,
            sample_input,
            name: file.pipeline.name.into_inner(),
            description: file.pipeline.description,
            deadline,
            budget,
            models,
            nodes,
            order,
            outputs,
            source,
        })
    } else {
        Err(r.errors)
    }
}

struct Resolver<'a> {
    src: &'a SourceFile,
    errors: Vec<Diagnostic>,
}

impl Resolver<'_> {
    fn error<T>(&mut self, at: &Spanned<T>, message: impl Into<String>, hint: impl Into<String>) {
        self.errors
            .push(Diagnostic::at(self.src, Some(at.span()), message).with_hint(hint));
    }

    /// `[baseline]`: the one-prompt monolith the pipeline is compared with.
    fn baseline(
        &mut self,
        table: &Spanned<BaselineSection>,
        models: &BTreeMap<String, ModelSpec>,
    ) -> Option<BaselineSpec> {
        let b = table.get_ref();
        if let Some(m) = &b.model {
            if !models.contains_key(m.get_ref()) {
                let hint = match did_you_mean(m.get_ref(), models.keys().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "name one of the manifest's [models.<name>]".into(),
                };
                self.error(
                    m,
                    format!("`baseline.model` `{}` is not a declared model", m.get_ref()),
                    hint,
                );
            }
        }
        let system = match (&b.system, &b.system_file) {
            (Some(text), None) => text.get_ref().clone(),
            (None, Some(path)) => {
                let full = self.src.dir().join(path.get_ref());
                match std::fs::read_to_string(&full) {
                    Ok(t) => t,
                    Err(e) => {
                        self.error(
                            path,
                            format!("cannot read `baseline.system-file` {}: {e}", full.display()),
                            "the path is relative to the manifest",
                        );
                        return None;
                    }
                }
            }
            (Some(text), Some(_)) => {
                self.error(
                    text,
                    "`[baseline]` has both `system` and `system-file`",
                    "keep one: the prompt inline, or the file holding it",
                );
                return None;
            }
            (None, None) => {
                self.error(
                    table,
                    "`[baseline]` has no prompt",
                    "add system = \"...\" (the one prompt a monolith would send with every input), or system-file = \"monolith.txt\"",
                );
                return None;
            }
        };
        let output_schema = self.schema("`[baseline]`", "output-schema", b.output_schema.as_ref());
        let max_tokens = b.max_tokens.as_ref().map_or(600, |m| *m.get_ref());
        if max_tokens == 0 {
            if let Some(m) = &b.max_tokens {
                self.error(
                    m,
                    "`baseline.max-tokens` is 0",
                    "give the monolith room to answer, e.g. 600",
                );
            }
        }
        Some(BaselineSpec {
            model: b.model.as_ref().map(|m| m.get_ref().clone()),
            system,
            output_schema,
            max_tokens,
        })
    }

    fn chat(&mut self, section: &ChatSection) -> ChatSpec {
        let mut spec = ChatSpec::default();
        if let Some(field) = &section.input_field {
            if field.get_ref().trim().is_empty() {
                self.error(
                    field,
                    "`chat.input-field` is empty",
                    "name the input field the user's message goes into, e.g. \"body\"",
                );
            }
            spec.input_field = field.get_ref().clone();
        }
        for p in &section.reply {
            if !p.get_ref().starts_with('/') {
                self.error(
                    p,
                    format!("`chat.reply` entry {:?} is not a JSON Pointer", p.get_ref()),
                    "JSON Pointers start with `/`, e.g. \"/answer/reply\"",
                );
            }
            spec.reply.push(p.get_ref().clone());
        }
        spec
    }

    /// Every limit must be positive; `stack-kb` must lie in the range
    /// the engine can honour.
    fn check_limits(&mut self, section: &LimitsSection) {
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

    fn models(&mut self, file: &ManifestFile) -> BTreeMap<String, ModelSpec> {
        let mut out = BTreeMap::new();
        for (name, section) in &file.models {
            if let Some(spec) = self.model(name, section) {
                out.insert(name.get_ref().clone(), spec);
            }
        }
        for (name, section) in &file.models {
            for f in &section.fallback {
                self.model_ref(file, &format!("model `{}`: `fallback`", name.get_ref()), f);
            }
        }
        out
    }

    fn model_ref(&mut self, file: &ManifestFile, context: &str, m: &Spanned<String>) -> bool {
        if file.models.keys().any(|k| k.get_ref() == m.get_ref()) {
            return true;
        }
        let names: Vec<&str> = file.models.keys().map(|k| k.get_ref().as_str()).collect();
        let hint = match did_you_mean(m.get_ref(), names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if names.is_empty() => "declare it in a [models.<name>] table".to_string(),
            None => format!("declared models are: {}", names.join(", ")),
        };
        self.error(
            m,
            format!("{context} names unknown model `{}`", m.get_ref()),
            hint,
        );
        false
    }

    fn budget(&mut self, scope: &str, b: Option<&Spanned<BudgetSection>>) -> BudgetSpec {
        let Some(b) = b else {
            return BudgetSpec::default();
        };
        let usd = b.get_ref().usd;
        if usd.is_some_and(|u| !u.is_finite() || u < 0.0) {
            self.error(
                b,
                format!("{scope}'s budget has a negative or non-finite `usd`"),
                "e.g. budget = { usd = 0.05, tokens = 20000 }",
            );
        }
        BudgetSpec {
            tokens: b.get_ref().tokens,
            cost: usd
                .filter(|u| u.is_finite() && *u >= 0.0)
                .map(|u| Cost((u * 1e12).round() as u64)),
        }
    }

    fn model(&mut self, name: &Spanned<String>, m: &ModelSection) -> Option<ModelSpec> {
        let n = name.get_ref();
        let price = match &m.price {
            None => Price::FREE,
            Some(p) => {
                let ok = |v: f64| v.is_finite() && v >= 0.0;
                if !ok(p.get_ref().input) || !ok(p.get_ref().output) {
                    self.error(
                        p,
                        format!("model `{n}` has a negative or non-finite price"),
                        "prices are USD per million tokens, e.g. price = { input = 0.15, output = 0.60 }",
                    );
                }
                Price::per_million(p.get_ref().input, p.get_ref().output)
            }
        };
        let timeout = m.timeout_ms.as_ref().map_or(DEFAULT_MODEL_TIMEOUT, |t| {
            Duration::from_millis(*t.get_ref())
        });
        let policy = CallPolicy {
            timeout,
            retries: m.retries.unwrap_or(DEFAULT_RETRIES),
            backoff: m.backoff_ms.map_or(DEFAULT_BACKOFF, Duration::from_millis),
            max_backoff: m
                .max_backoff_ms
                .map_or(DEFAULT_MAX_BACKOFF, Duration::from_millis),
            fallback: m.fallback.iter().map(|f| f.get_ref().clone()).collect(),
        };
        for f in &m.fallback {
            if f.get_ref() == n {
                self.error(
                    f,
                    format!("model `{n}` lists itself as a fallback"),
                    "a fallback chain names other models",
                );
            }
        }
        let breaker = match &m.circuit_breaker {
            None => Some(BreakerSpec::default()),
            Some(b) if b.failures == 0 => None,
            Some(b) => Some(BreakerSpec {
                failures: b.failures,
                cool_down: b
                    .cool_down_ms
                    .map_or(BreakerSpec::default().cool_down, Duration::from_millis),
            }),
        };
        let provider = match m.provider.get_ref().as_str() {
            "sim" => {
                for (field, set) in [
                    ("base-url", m.base_url.is_some()),
                    ("api-key-env", m.api_key_env.is_some()),
                ] {
                    if set {
                        self.error(
                            &m.provider,
                            format!("model `{n}` uses provider `sim`, which takes no `{field}`"),
                            format!("remove `{field}`, or set provider = \"openai\""),
                        );
                    }
                }
                ProviderSpec::Sim(self.sim(n, m))
            }
            "openai" => {
                let (base_url, api_key_env) = self.http_provider(n, m, "openai", None)?;
                ProviderSpec::OpenAi {
                    base_url,
                    api_key_env,
                }
            }
            "anthropic" => {
                let (base_url, api_key_env) =
                    self.http_provider(n, m, "anthropic", Some(ANTHROPIC_BASE_URL))?;
                ProviderSpec::Anthropic {
                    base_url,
                    api_key_env,
                }
            }
            other => {
                let hint = match did_you_mean(other, ["sim", "openai", "anthropic"]) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "providers are `sim` (simulated, no key needed), `openai` (any OpenAI-compatible server) and `anthropic`".into(),
                };
                self.error(
                    &m.provider,
                    format!("model `{n}` has unknown provider `{other}`"),
                    hint,
                );
                return None;
            }
        };
        Some(ModelSpec {
            name: n.clone(),
            upstream: m.upstream.clone().unwrap_or_else(|| n.clone()),
            provider,
            price,
            policy,
            breaker,
        })
    }

    /// The rules every HTTP provider shares: no `[sim]` table, an http(s)
    /// `base-url` (required unless the provider has a default), and an
    /// `api-key-env` that names a variable rather than holding a key.
    fn http_provider(
        &mut self,
        n: &str,
        m: &ModelSection,
        provider: &str,
        default_url: Option<&str>,
    ) -> Option<(String, Option<String>)> {
        if let Some(sim) = &m.sim {
            self.error(
                sim,
                format!("model `{n}` uses provider `{provider}`, which takes no `[sim]` table"),
                "remove the sim table, or set provider = \"sim\"",
            );
        }
        let url = match (&m.base_url, default_url) {
            (Some(base_url), _) => {
                let url = base_url.get_ref().trim_end_matches('/').to_string();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.error(
                        base_url,
                        format!("model `{n}` has a base-url that is not an http(s) URL"),
                        "write it like \"http://127.0.0.1:8000/v1\"",
                    );
                }
                url
            }
            (None, Some(default)) => default.to_string(),
            (None, None) => {
                self.error(
                    &m.provider,
                    format!("model `{n}` uses provider `{provider}` but has no `base-url`"),
                    "add base-url = \"https://api.openai.com/v1\" (or your server's /v1 URL)",
                );
                return None;
            }
        };
        if let Some(env) = &m.api_key_env {
            let valid = !env.get_ref().is_empty()
                && env
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.error(
                    env,
                    format!("model `{n}`: `api-key-env` must name an environment variable, not hold a key"),
                    "write the variable's name, e.g. api-key-env = \"OPENAI_API_KEY\", and export the key in that variable",
                );
            }
        }
        Some((url, m.api_key_env.as_ref().map(|e| e.get_ref().clone())))
    }

    fn sim(&mut self, n: &str, m: &ModelSection) -> SimSpec {
        let Some(s) = &m.sim else {
            return SimSpec::default();
        };
        let sim = s.get_ref();
        let fraction = |v: f64| (0.0..=1.0).contains(&v);
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !fraction(sim.error_rate) || !fraction(sim.echo_rate) {
            self.error(
                s,
                format!("model `{n}`: sim `error-rate` and `echo-rate` must be between 0 and 1"),
                "e.g. error-rate = 0.05 fails one call in twenty",
            );
        }
        if !non_negative(sim.ttft_ms) || !non_negative(sim.ms_per_token) {
            self.error(
                s,
                format!("model `{n}`: sim latencies must be zero or positive"),
                "e.g. ttft-ms = 120, ms-per-token = 8",
            );
        }
        let ms = |v: f64| Duration::from_secs_f64(if non_negative(v) { v / 1000.0 } else { 0.0 });
        SimSpec {
            seed: sim.seed,
            ttft: ms(sim.ttft_ms),
            per_token: ms(sim.ms_per_token),
            error_rate: sim.error_rate.clamp(0.0, 1.0),
            echo_rate: sim.echo_rate.clamp(0.0, 1.0),
            reply: sim.reply.clone(),
        }
    }

    fn node_ref(
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

    fn nodes(
        &mut self,
        file: &ManifestFile,
        models: &BTreeMap<String, ModelSpec>,
        defaults: Limits,
    ) -> BTreeMap<String, NodeSpec> {
        let flow = [Role::Router, Role::Worker];
        let mut out = BTreeMap::new();
        if file.nodes.is_empty() {
            self.errors.push(
                Diagnostic::at(self.src, None, "the manifest declares no nodes")
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
            let mut model_policy = PolicyOverride {
                timeout: n.model_policy.timeout_ms.map(Duration::from_millis),
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
            let owner = format!("node `{name_s}`");
            let input_schema = self.schema(&owner, "input-schema", n.input_schema.as_ref());
            let output_schema = self.schema(&owner, "output-schema", n.output_schema.as_ref());
            let component = normalize(&self.src.dir().join(n.component.get_ref()));
            out.insert(
                name_s.clone(),
                NodeSpec {
                    name: name_s,
                    role,
                    component,
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

    fn on_reject(
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

    fn schema(
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

    fn check_role_fields(&mut self, name: &str, role: Role, n: &NodeSection) {
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

    /// Kahn's algorithm over flow nodes; on a cycle, reports one edge of it.
    fn order(&mut self, file: &ManifestFile, nodes: &BTreeMap<String, NodeSpec>) -> Vec<String> {
        let flow: Vec<&NodeSpec> = nodes
            .values()
            .filter(|n| n.role != Role::Judge && !n.standby)
            .collect();
        let mut indegree: BTreeMap<&str, usize> = flow
            .iter()
            .map(|n| (n.name.as_str(), n.deps.len()))
            .collect();
        let mut ready: Vec<&str> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut order = Vec::new();
        while let Some(n) = ready.pop() {
            order.push(n.to_string());
            for m in &flow {
                if m.deps.iter().any(|d| d == n) {
                    let d = indegree.get_mut(m.name.as_str()).expect("flow node");
                    *d -= 1;
                    if *d == 0 {
                        ready.push(&m.name);
                    }
                }
            }
        }
        if order.len() < flow.len() {
            let stuck: BTreeSet<&str> = indegree
                .iter()
                .filter(|(_, d)| **d > 0)
                .map(|(n, _)| *n)
                .collect();
            let cycle: Vec<&str> = stuck.iter().copied().collect();
            // Point at an edge inside the cycle: an `after` or branch entry.
            let (key, section) = file
                .nodes
                .iter()
                .find(|(k, _)| stuck.contains(k.get_ref().as_str()))
                .expect("a stuck node exists");
            let edge = section
                .after
                .iter()
                .chain(section.branches.values())
                .find(|t| stuck.contains(t.get_ref().as_str()))
                .unwrap_or(key);
            self.error(
                edge,
                format!("the flow has a cycle through nodes: {}", cycle.join(", ")),
                "a pipeline is a directed acyclic graph; remove one of these `after`/`branches` edges",
            );
        }
        order
    }

    fn outputs(&mut self, file: &ManifestFile, nodes: &BTreeMap<String, NodeSpec>) -> Vec<String> {
        if let Some(out) = &file.pipeline.output {
            if self.node_ref(
                file,
                "pipeline",
                "output",
                out,
                &[Role::Router, Role::Worker],
            ) {
                return vec![out.get_ref().clone()];
            }
            return Vec::new();
        }
        // Default: every flow node nothing else depends on.
        nodes
            .values()
            .filter(|n| {
                n.role != Role::Judge
                    && !n.standby
                    && !nodes.values().any(|m| m.deps.contains(&n.name))
            })
            .map(|n| n.name.clone())
            .collect()
    }
}

/// Removes `.` and `name/..` pairs lexically, so messages show
/// `plugins/x.wasm` rather than `examples/a/../../plugins/x.wasm`.
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return std::path::PathBuf::from(".");
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn normalize_folds_parent_components() {
        assert_eq!(
            normalize(Path::new("examples/a/../../plugins/x.wasm")),
            Path::new("plugins/x.wasm")
        );
        assert_eq!(normalize(Path::new("./x.wasm")), Path::new("x.wasm"));
        assert_eq!(normalize(Path::new("../x.wasm")), Path::new("../x.wasm"));
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }
}
