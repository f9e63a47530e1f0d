//! Checks a parsed [`ManifestFile`] and resolves it into a [`Manifest`]:
//! every reference names something that exists and has the right role,
//! provider settings fit their provider, numbers are in range, and the flow
//! is acyclic. Every problem is reported with its location and a hint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::manifest::{BaselineSpec, ChatSpec, Manifest, NodeSpec};
use super::schema::{
    AuthSection, BaselineSection, ChatSection, EngineSection, ManifestFile, RecordingSection,
    StateSection, TelemetrySection,
};
use super::source::{did_you_mean, Diagnostic, SourceFile};
use crate::spec::{
    EngineSpec, Limits, ModelSpec, RecordingSpec, Role, TelemetrySpec, DEFAULT_DEADLINE,
    DEFAULT_MAX_INSTANCES, MAX_INSTANCES,
};

mod graph;
mod models;
mod nodes;
mod trust;

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
    let trust = r.trust_table(&file.trust);
    let nodes = r.nodes(&file, &models, defaults, &trust);
    let order = r.order(&file, &nodes);
    let outputs = r.outputs(&file, &nodes);
    let deadline = file
        .pipeline
        .deadline_ms
        .as_ref()
        .map_or(DEFAULT_DEADLINE, |d| Duration::from_millis(*d.get_ref()));
    let budget = r.budget("the pipeline", file.pipeline.budget.as_ref());
    let spend_limit = r.spend_limit("the pipeline", file.pipeline.spend_limit.as_ref());
    if file.pipeline.name.get_ref().trim().is_empty() {
        r.error(
            &file.pipeline.name,
            "`pipeline.name` is empty",
            "give the pipeline a short name such as \"support-triage\"",
        );
    }
    let chat = r.chat(&file.chat);
    let engine = r.engine(&file.engine);
    let state = r.state(&file.state);
    let clients = r.clients(&file.auth);
    let telemetry = r.telemetry(&file.telemetry, &nodes);
    let recording = r.recording(&file.recording, &nodes);
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
            state,
            clients,
            chat,
            engine,
            telemetry,
            recording,
            baseline,
            sample_input,
            name: file.pipeline.name.into_inner(),
            description: file.pipeline.description,
            deadline,
            budget,
            spend_limit,
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

    /// `[auth]`: `clients = "keys"` (with an optional `keys-file`) or
    /// `"none"`; unset: undeclared, which `serve` refuses.
    fn clients(&mut self, section: &AuthSection) -> crate::spec::ClientsSpec {
        use crate::spec::ClientsSpec as C;
        let file = section
            .keys_file
            .as_ref()
            .map(|f| self.src.dir().join(f.get_ref()));
        match section.clients.as_ref() {
            None if file.is_none() => C::Undeclared,
            None => C::Keys { file },
            Some(c) => match c.get_ref().as_str() {
                "keys" => C::Keys { file },
                "none" => {
                    if let Some(f) = &section.keys_file {
                        self.error(
                            f,
                            "`[auth] keys-file` is given but `clients = \"none\"` lets anyone in",
                            "remove `keys-file`, or use `clients = \"keys\"`",
                        );
                    }
                    C::Open
                }
                other => {
                    self.error(
                        c,
                        format!("unknown `[auth] clients` `{other}`"),
                        "use \"keys\" (a client key in `Authorization: Bearer`) or \"none\" (anyone who reaches the port)",
                    );
                    C::Undeclared
                }
            },
        }
    }

    /// `[state] budgets-when-down`.
    fn budgets_when_down(&mut self, section: &StateSection) -> crate::spec::BudgetsWhenDown {
        use crate::spec::BudgetsWhenDown as W;
        match section.budgets_when_down.as_ref() {
            None => W::default(),
            Some(w) => match w.get_ref().as_str() {
                "fail-closed" => W::FailClosed,
                "count-locally" => W::CountLocally,
                other => {
                    self.error(
                        w,
                        format!("unknown `[state] budgets-when-down` `{other}`"),
                        "use \"fail-closed\" (refuse calls a spend limit covers while Redis is down; the default) or \"count-locally\" (each replica counts alone)",
                    );
                    W::default()
                }
            },
        }
    }

    /// `[state]`: `local` (default), or `redis` with a `redis://` URL.
    fn state(&mut self, section: &StateSection) -> crate::spec::StateSpec {
        let backend = section.backend.as_ref();
        match backend.map(|b| b.get_ref().as_str()) {
            None | Some("local") => {
                if let Some(w) = &section.budgets_when_down {
                    self.error(
                        w,
                        "`[state] budgets-when-down` is given but the backend is local",
                        "it applies to a shared backend: add `backend = \"redis\"` and `url`, or remove it",
                    );
                }
                if let Some(url) = &section.url {
                    self.error(
                        url,
                        "`[state] url` is given but the backend is local",
                        "add `backend = \"redis\"`, or remove `url`",
                    );
                }
                crate::spec::StateSpec::Local
            }
            Some("redis") => match &section.url {
                Some(url)
                    if url.get_ref().starts_with("redis://")
                        || url.get_ref().starts_with("rediss://") =>
                {
                    crate::spec::StateSpec::Redis {
                        url: url.get_ref().clone(),
                        budgets_when_down: self.budgets_when_down(section),
                    }
                }
                Some(url) => {
                    self.error(
                        url,
                        "`[state] url` is not a redis:// or rediss:// URL",
                        "e.g. url = \"redis://127.0.0.1:6379\"",
                    );
                    crate::spec::StateSpec::Local
                }
                None => {
                    let at = backend.expect("matched Some");
                    self.error(
                        at,
                        "`[state] backend = \"redis\"` needs a `url`",
                        "e.g. url = \"redis://127.0.0.1:6379\" (or pass --state-url)",
                    );
                    crate::spec::StateSpec::Local
                }
            },
            Some(other) => {
                let at = backend.expect("matched Some");
                self.error(
                    at,
                    format!("unknown `[state] backend` `{other}`"),
                    "use \"local\" (this process only) or \"redis\" (shared by replicas)",
                );
                crate::spec::StateSpec::Local
            }
        }
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

    /// `[engine]`: the instance pool's size, within what a process can
    /// reserve.
    fn engine(&mut self, section: &EngineSection) -> EngineSpec {
        let Some(n) = &section.max_instances else {
            return EngineSpec::default();
        };
        let max_instances = *n.get_ref();
        if !(1..=MAX_INSTANCES).contains(&max_instances) {
            self.error(
                n,
                format!("`engine.max-instances` is {max_instances}; it must be 1 to {MAX_INSTANCES}"),
                format!("each slot reserves address space for its memories; the default is {DEFAULT_MAX_INSTANCES}"),
            );
        }
        EngineSpec {
            max_instances: max_instances.clamp(1, MAX_INSTANCES),
        }
    }

    /// `[telemetry]`: an http(s) endpoint, a non-empty service name, a
    /// ratio from 0 to 1.
    fn telemetry(
        &mut self,
        section: &TelemetrySection,
        nodes: &BTreeMap<String, NodeSpec>,
    ) -> TelemetrySpec {
        if let Some(e) = &section.endpoint {
            let url = e.get_ref().trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                self.error(
                    e,
                    format!("`telemetry.endpoint` `{url}` is not an http:// or https:// URL"),
                    "the OTLP/HTTP base endpoint of a collector, e.g. \"http://localhost:4318\"",
                );
            }
        }
        if let Some(n) = &section.service_name {
            if n.get_ref().trim().is_empty() {
                self.error(
                    n,
                    "`telemetry.service-name` is empty",
                    "e.g. service-name = \"support-desk\"",
                );
            }
        }
        if let Some(r) = &section.sample_ratio {
            if !(0.0..=1.0).contains(r.get_ref()) {
                self.error(
                    r,
                    format!(
                        "`telemetry.sample-ratio` is {}; it must be from 0 to 1",
                        r.get_ref()
                    ),
                    "1 records every new trace, 0.1 one in ten",
                );
            }
        }
        let content = section.content.as_ref().is_some_and(|c| *c.get_ref());
        if let Some(judge) = &section.redact_with {
            self.redactor("telemetry", judge, content, nodes);
        }
        TelemetrySpec {
            content,
            redact_with: section.redact_with.as_ref().map(|j| j.get_ref().clone()),
            endpoint: section
                .endpoint
                .as_ref()
                .map(|e| e.get_ref().trim().to_string()),
            service_name: section.service_name.as_ref().map(|n| n.get_ref().clone()),
            sample_ratio: section.sample_ratio.as_ref().map(|r| *r.get_ref()),
        }
    }

    /// `telemetry.redact-with`: a judge granted no models (its invocations
    /// belong to no run, so they could bill no run), with content on.
    fn redactor(
        &mut self,
        table: &str,
        judge: &Spanned<String>,
        content: bool,
        nodes: &BTreeMap<String, NodeSpec>,
    ) {
        let name = judge.get_ref();
        match nodes.get(name) {
            None => {
                let hint = match did_you_mean(name, nodes.keys().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "name a judge node of this manifest, e.g. a PII guardrail in redact mode".into(),
                };
                self.error(
                    judge,
                    format!("`{table}.redact-with` `{name}` is not a node of this pipeline"),
                    hint,
                );
            }
            Some(n) if n.role != Role::Judge => self.error(
                judge,
                format!(
                    "`{table}.redact-with` `{name}` is a {}, not a judge",
                    n.role
                ),
                "name a judge whose `repair` verdict redacts text, e.g. judge-pii with mode = \"redact\"",
            ),
            Some(n) if !n.models.is_empty() => self.error(
                judge,
                format!(
                    "`{table}.redact-with` `{name}` is granted models ({}); the redacting judge must call none",
                    n.models.join(", ")
                ),
                "redaction runs outside any run, so no run's budget could pay for its calls: use a guardrail granted no models",
            ),
            Some(_) if !content => self.error(
                judge,
                format!("`{table}.redact-with` is set but `{table}.content` is off: there is no text to redact"),
                format!("set `content = true` in [{table}], or remove `redact-with`"),
            ),
            Some(_) => {}
        }
    }

    /// `[recording]`: omitted nodes exist; a redacting judge as for
    /// `[telemetry]`.
    fn recording(
        &mut self,
        section: &RecordingSection,
        nodes: &BTreeMap<String, NodeSpec>,
    ) -> RecordingSpec {
        let content = section.content.as_ref().is_none_or(|c| *c.get_ref());
        if let Some(omit) = &section.omit_nodes {
            for name in omit.get_ref() {
                if !nodes.contains_key(name) {
                    let hint = match did_you_mean(name, nodes.keys().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "name nodes of this manifest".into(),
                    };
                    self.error(
                        omit,
                        format!("`recording.omit-nodes` names `{name}`, which is not a node of this pipeline"),
                        hint,
                    );
                }
            }
        }
        if let Some(judge) = &section.redact_with {
            self.redactor("recording", judge, content, nodes);
        }
        RecordingSpec {
            content,
            omit_nodes: section
                .omit_nodes
                .as_ref()
                .map(|o| o.get_ref().clone())
                .unwrap_or_default(),
            redact_with: section.redact_with.as_ref().map(|j| j.get_ref().clone()),
        }
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
