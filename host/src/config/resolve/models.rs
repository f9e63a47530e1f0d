//! The `[models.<name>]` section: providers and their rules, prices, call
//! policies, circuit breakers, budgets, and references to models.

use std::time::Duration;

use std::collections::BTreeMap;

use toml::Spanned;

use super::{Resolver, ANTHROPIC_BASE_URL};
use crate::config::schema::{
    BreakerSection, BudgetSection, ManifestFile, ModelSection, SpendLimitSection,
};
use crate::config::source::did_you_mean;
use crate::spec::{
    BreakerSpec, BudgetSpec, CallPolicy, Cost, ModelKind, ModelSpec, Period, Price, ProviderSpec,
    SimSpec, SpendLimitSpec, DEFAULT_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MODEL_TIMEOUT,
    DEFAULT_RETRIES, DEFAULT_STREAM_IDLE_TIMEOUT, MAX_DIMENSIONS,
};

/// Which provider-specific keys each provider takes and requires: the one
/// table the resolver checks a model against.
pub(super) struct ProviderRules {
    /// The provider's name in manifests.
    pub name: &'static str,
    /// Provider-specific keys it takes.
    pub takes: &'static [&'static str],
    /// Keys it cannot do without.
    pub requires: &'static [&'static str],
    /// What to write when a required key is missing.
    pub hint: &'static str,
}

/// Every provider's row.
pub(super) const PROVIDERS: &[ProviderRules] = &[
    ProviderRules {
        name: "sim",
        takes: &["sim"],
        requires: &[],
        hint: "",
    },
    ProviderRules {
        name: "openai",
        takes: &["base-url", "api-key-env"],
        requires: &["base-url"],
        hint: "add base-url = \"https://api.openai.com/v1\" (or your server's /v1 URL)",
    },
    ProviderRules {
        name: "anthropic",
        takes: &["base-url", "api-key-env"],
        requires: &[],
        hint: "",
    },
];

impl Resolver<'_> {
    pub(super) fn models(&mut self, file: &ManifestFile) -> BTreeMap<String, ModelSpec> {
        let mut out = BTreeMap::new();
        for (name, section) in &file.models {
            if let Some(spec) = self.model(name, section) {
                out.insert(name.get_ref().clone(), spec);
            }
        }
        for (name, section) in &file.models {
            for f in &section.fallback {
                if self.model_ref(file, &format!("model `{}`: `fallback`", name.get_ref()), f) {
                    let kinds = (out.get(name.get_ref()), out.get(f.get_ref()));
                    if let (Some(a), Some(b)) = kinds {
                        if a.kind != b.kind {
                            self.error(
                                f,
                                format!(
                                    "model `{}` is a {} model but its fallback `{}` is not (it is a {} model)",
                                    a.name,
                                    a.kind.as_str(),
                                    b.name,
                                    b.kind.as_str()
                                ),
                                "a fallback answers the same kind of call: name a model of the same `kind`",
                            );
                        }
                    }
                }
            }
        }
        out
    }

    pub(super) fn model_ref(
        &mut self,
        file: &ManifestFile,
        context: &str,
        m: &Spanned<String>,
    ) -> bool {
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

    pub(super) fn budget(&mut self, scope: &str, b: Option<&Spanned<BudgetSection>>) -> BudgetSpec {
        let Some(b) = b else {
            return BudgetSpec::default();
        };
        self.budget_values(scope, b, b.get_ref().tokens, b.get_ref().usd)
    }

    /// `tokens` and `usd` of a budget or spend limit written at `at`.
    fn budget_values<T>(
        &mut self,
        scope: &str,
        at: &Spanned<T>,
        tokens: Option<u64>,
        usd: Option<f64>,
    ) -> BudgetSpec {
        if usd.is_some_and(|u| !u.is_finite() || u < 0.0) {
            self.error(
                at,
                format!("{scope}'s budget has a negative or non-finite `usd`"),
                "e.g. budget = { usd = 0.05, tokens = 20000 }",
            );
        }
        BudgetSpec {
            tokens,
            cost: usd
                .filter(|u| u.is_finite() && *u >= 0.0)
                .map(|u| Cost((u * 1e12).round() as u64)),
        }
    }

    /// A `spend-limit`: at least one of `usd` and `tokens`, per a known
    /// period.
    pub(super) fn spend_limit(
        &mut self,
        scope: &str,
        s: Option<&Spanned<SpendLimitSection>>,
    ) -> Option<SpendLimitSpec> {
        let s = s?;
        let section = s.get_ref();
        let limit = self.budget_values(scope, s, section.tokens, section.usd);
        let per = Period::parse(section.per.get_ref());
        if per.is_none() {
            self.error(
                &section.per,
                format!(
                    "{scope}'s spend-limit has an unknown period `{}`",
                    section.per.get_ref()
                ),
                format!("use one of: {}", Period::NAMES.join(", ")),
            );
        }
        if limit.is_unlimited() {
            self.error(
                s,
                format!("{scope}'s spend-limit limits nothing"),
                "give `usd`, `tokens` or both, e.g. spend-limit = { usd = 100.0, per = \"day\" }",
            );
        }
        Some(SpendLimitSpec { limit, per: per? })
    }

    /// A model's breaker: the defaults, each key overridable, or none.
    fn breaker(&mut self, model: &str, b: Option<&Spanned<BreakerSection>>) -> Option<BreakerSpec> {
        let d = BreakerSpec::default();
        let Some(section) = b else {
            return Some(d);
        };
        let s = section.get_ref();
        if s.enabled == Some(false) {
            return None;
        }
        let spec = BreakerSpec {
            window: s.window.unwrap_or(d.window),
            min_calls: s.min_calls.unwrap_or(d.min_calls),
            failure_rate: s.failure_rate.unwrap_or(d.failure_rate),
            cool_down: s.cool_down_ms.map_or(d.cool_down, Duration::from_millis),
            max_cool_down: s
                .max_cool_down_ms
                .map_or(d.max_cool_down, Duration::from_millis),
            probes: s.probes.unwrap_or(d.probes),
        };
        let problem = if !(spec.failure_rate > 0.0 && spec.failure_rate <= 1.0) {
            Some("`failure-rate` must be above 0 and at most 1".to_string())
        } else if spec.window == 0 || spec.min_calls == 0 || spec.probes == 0 {
            Some("`window`, `min-calls` and `probes` must be at least 1".to_string())
        } else if spec.min_calls > spec.window {
            Some(format!(
                "`min-calls` ({}) is more than the `window` ({}) it is counted in, so it could never open",
                spec.min_calls, spec.window
            ))
        } else if spec.cool_down.is_zero() || spec.max_cool_down < spec.cool_down {
            Some("`cool-down-ms` must be at least 1 and at most `max-cool-down-ms`".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            self.error(
                section,
                format!("model `{model}`: circuit-breaker {problem}"),
                "e.g. circuit-breaker = { failure-rate = 0.8, min-calls = 10, window = 20, cool-down-ms = 1000 }, or { enabled = false }",
            );
        }
        Some(spec)
    }

    /// A `stream-idle-timeout-ms` of `owner` (a model, or a node's
    /// `model-policy`): at least 1 ms.
    pub(super) fn idle_timeout(
        &mut self,
        owner: &str,
        ms: Option<&Spanned<u64>>,
    ) -> Option<Duration> {
        let ms = ms?;
        if *ms.get_ref() == 0 {
            self.error(
                ms,
                format!("{owner}: `stream-idle-timeout-ms` must be at least 1"),
                "it bounds each wait for the next chunk of a streamed answer, e.g. stream-idle-timeout-ms = 10000",
            );
            return None;
        }
        Some(Duration::from_millis(*ms.get_ref()))
    }

    pub(super) fn model(&mut self, name: &Spanned<String>, m: &ModelSection) -> Option<ModelSpec> {
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
        let idle_timeout = self
            .idle_timeout(&format!("model `{n}`"), m.stream_idle_timeout_ms.as_ref())
            .unwrap_or(DEFAULT_STREAM_IDLE_TIMEOUT);
        let policy = CallPolicy {
            timeout,
            idle_timeout,
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
        let breaker = self.breaker(n, m.circuit_breaker.as_ref());
        let rate_limit = m.rate_limit.as_ref().and_then(|r| self.rate_limit(n, r));
        let rules = PROVIDERS
            .iter()
            .find(|r| r.name == m.provider.get_ref().as_str());
        if let Some(rules) = rules {
            self.provider_keys(n, m, rules);
        }
        let provider = match m.provider.get_ref().as_str() {
            "sim" => ProviderSpec::Sim(self.sim(n, m)),
            "openai" => {
                let (base_url, api_key_env) = self.http_provider(n, m, None)?;
                ProviderSpec::OpenAi {
                    base_url,
                    api_key_env,
                }
            }
            "anthropic" => {
                let (base_url, api_key_env) = self.http_provider(n, m, Some(ANTHROPIC_BASE_URL))?;
                ProviderSpec::Anthropic {
                    base_url,
                    api_key_env,
                }
            }
            other => {
                let hint = match did_you_mean(other, PROVIDERS.iter().map(|r| r.name)) {
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
        let (kind, dimensions) = self.kind(n, m);
        if let (ModelKind::Embedding, ProviderSpec::Anthropic { .. }) = (kind, &provider) {
            self.error(
                &m.provider,
                format!("model `{n}` is an embedding model, but provider `anthropic` has no embeddings endpoint"),
                "use provider = \"openai\" (any OpenAI-compatible /embeddings server) or \"sim\"",
            );
        }
        Some(ModelSpec {
            kind,
            dimensions,
            name: n.clone(),
            upstream: m.upstream.clone().unwrap_or_else(|| n.clone()),
            provider,
            price,
            policy,
            breaker,
            rate_limit,
        })
    }

    /// A model's `rate-limit` table: at least one positive limit, and
    /// `on-limit` `wait` or `fail`.
    fn rate_limit(
        &mut self,
        model: &str,
        r: &Spanned<crate::config::schema::RateLimitSection>,
    ) -> Option<crate::spec::RateLimitSpec> {
        let section = r.get_ref();
        let on_limit = match section.on_limit.as_ref().map(|o| (o, o.get_ref().as_str())) {
            None | Some((_, "wait")) => crate::spec::OnLimit::Wait,
            Some((_, "fail")) => crate::spec::OnLimit::Fail,
            Some((at, other)) => {
                self.error(
                    at,
                    format!("model `{model}`: unknown `rate-limit.on-limit` `{other}`"),
                    "use \"wait\" (wait for room up to the run's deadline) or \"fail\" (fail rate-limited at once)",
                );
                return None;
            }
        };
        let rpm = section.requests_per_minute.as_ref();
        let tpm = section.tokens_per_minute.as_ref();
        if rpm.is_none() && tpm.is_none() {
            self.error(
                r,
                format!("model `{model}`: `rate-limit` sets no limit"),
                "e.g. rate-limit = { requests-per-minute = 600, tokens-per-minute = 100000 }",
            );
            return None;
        }
        if let Some(z) = rpm.filter(|v| *v.get_ref() == 0) {
            self.error(
                z,
                format!("model `{model}`: `rate-limit.requests-per-minute` is 0"),
                "a limit of 0 would refuse every call: remove the model's grants instead",
            );
            return None;
        }
        if let Some(z) = tpm.filter(|v| *v.get_ref() == 0) {
            self.error(
                z,
                format!("model `{model}`: `rate-limit.tokens-per-minute` is 0"),
                "a limit of 0 would refuse every call: remove the model's grants instead",
            );
            return None;
        }
        Some(crate::spec::RateLimitSpec {
            requests_per_minute: rpm.map(|v| *v.get_ref()),
            tokens_per_minute: tpm.map(|v| *v.get_ref()),
            on_limit,
        })
    }

    /// The base URL (the default where the provider has one) and key
    /// variable of an HTTP provider: the URL must be http(s), and
    /// `api-key-env` must name a variable rather than hold a key. Which keys
    /// a provider takes at all is [`PROVIDERS`]' business.
    pub(super) fn http_provider(
        &mut self,
        n: &str,
        m: &ModelSection,
        default_url: Option<&str>,
    ) -> Option<(String, Option<String>)> {
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
            // Reported by `provider_keys` (a required key).
            (None, None) => return None,
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

    /// Checks the provider-specific keys of model `n` against its
    /// provider's row of [`PROVIDERS`]: each key set must be one it takes,
    /// each key it requires must be set.
    fn provider_keys(&mut self, n: &str, m: &ModelSection, rules: &ProviderRules) {
        let set: [(&str, Option<std::ops::Range<usize>>); 3] = [
            ("base-url", m.base_url.as_ref().map(Spanned::span)),
            ("api-key-env", m.api_key_env.as_ref().map(Spanned::span)),
            ("sim", m.sim.as_ref().map(Spanned::span)),
        ];
        let provider = rules.name;
        for (key, span) in &set {
            if let Some(span) = span {
                if !rules.takes.contains(key) {
                    let takes = if rules.takes.is_empty() {
                        "none of these keys".to_string()
                    } else {
                        rules.takes.join(", ")
                    };
                    self.errors.push(
                        crate::config::source::Diagnostic::at(
                            self.src,
                            Some(span.clone()),
                            format!(
                                "model `{n}` uses provider `{provider}`, which takes no `{key}`"
                            ),
                        )
                        .with_hint(format!(
                            "remove `{key}`; provider `{provider}` takes {takes}"
                        )),
                    );
                }
            }
        }
        for key in rules.requires {
            if set.iter().any(|(k, span)| k == key && span.is_none()) {
                self.error(
                    &m.provider,
                    format!("model `{n}` uses provider `{provider}` but has no `{key}`"),
                    rules.hint,
                );
            }
        }
    }

    /// A model's `kind` and, for an embedding model, its `dimensions`.
    fn kind(&mut self, n: &str, m: &ModelSection) -> (ModelKind, Option<u32>) {
        let kind = match m.kind.as_ref().map(|k| (k, k.get_ref().as_str())) {
            None | Some((_, "chat")) => ModelKind::Chat,
            Some((_, "embedding")) => ModelKind::Embedding,
            Some((k, other)) => {
                let hint = match did_you_mean(other, ["chat", "embedding"]) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "kinds are `chat` (completions, the default) and `embedding`".into(),
                };
                self.error(k, format!("model `{n}` has unknown kind `{other}`"), hint);
                ModelKind::Chat
            }
        };
        let Some(d) = &m.dimensions else {
            return (kind, None);
        };
        if kind != ModelKind::Embedding {
            self.error(
                d,
                format!("model `{n}` sets `dimensions` but is not an embedding model"),
                "add kind = \"embedding\", or remove `dimensions`",
            );
        } else if !(1..=MAX_DIMENSIONS).contains(d.get_ref()) {
            self.error(
                d,
                format!("model `{n}`: `dimensions` must be between 1 and {MAX_DIMENSIONS}"),
                "e.g. dimensions = 256",
            );
        }
        (kind, Some((*d.get_ref()).clamp(1, MAX_DIMENSIONS)))
    }

    pub(super) fn sim(&mut self, n: &str, m: &ModelSection) -> SimSpec {
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{parse, source::SourceFile};
    use crate::spec::ModelKind;

    fn manifest(model_keys: &str, policy: &str) -> String {
        format!(
            "[pipeline]\nname = \"p\"\n\n[models.m]\nprovider = \"sim\"\n{model_keys}\n\n[nodes.w]\nrole = \"worker\"\ncomponent = \"w.wasm\"\nmodels = [\"m\"]\nmodel-policy = {{ {policy} }}\n"
        )
    }

    #[test]
    fn stream_idle_timeout_defaults_reads_and_refuses_zero() {
        let m = parse(SourceFile::new("p.toml", manifest("", ""))).unwrap();
        assert_eq!(
            m.models["m"].policy.idle_timeout,
            crate::spec::DEFAULT_STREAM_IDLE_TIMEOUT
        );
        let m = parse(SourceFile::new(
            "p.toml",
            manifest(
                "stream-idle-timeout-ms = 250",
                "stream-idle-timeout-ms = 40",
            ),
        ))
        .unwrap();
        assert_eq!(
            m.models["m"].policy.idle_timeout,
            Duration::from_millis(250)
        );
        assert_eq!(
            m.nodes["w"].model_policy.idle_timeout,
            Some(Duration::from_millis(40))
        );
        let err = parse(SourceFile::new(
            "p.toml",
            manifest("stream-idle-timeout-ms = 0", "stream-idle-timeout-ms = 0"),
        ))
        .unwrap_err();
        let messages: Vec<&str> = err
            .diagnostics()
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert!(
            messages.contains(&"model `m`: `stream-idle-timeout-ms` must be at least 1"),
            "{messages:?}"
        );
        assert!(
            messages
                .contains(&"node `w`: `model-policy`: `stream-idle-timeout-ms` must be at least 1"),
            "{messages:?}"
        );
    }

    fn parse_models(models: &str) -> Result<crate::config::Manifest, String> {
        let text = format!(
            "[pipeline]\nname = \"t\"\n\n{models}\n[nodes.w]\nrole = \"worker\"\ncomponent = \"w.wasm\"\nmodels = [\"small\"]\n"
        );
        parse(SourceFile::new("p.toml", text)).map_err(|e| e.to_string())
    }

    #[test]
    fn config_model_kind_and_dimensions_resolve() {
        let m = parse_models(
            "[models.small]\nprovider = \"sim\"\n\n[models.vec]\nprovider = \"sim\"\nkind = \"embedding\"\ndimensions = 32\n\n[models.oai]\nprovider = \"openai\"\nbase-url = \"http://127.0.0.1:9/v1\"\nkind = \"embedding\"\n",
        )
        .unwrap();
        assert_eq!(m.models["small"].kind, ModelKind::Chat);
        assert_eq!(m.models["small"].dimensions, None);
        assert_eq!(m.models["vec"].kind, ModelKind::Embedding);
        assert_eq!(m.models["vec"].dimensions, Some(32));
        assert_eq!(m.models["oai"].kind, ModelKind::Embedding);
    }

    #[test]
    fn config_model_kind_errors_are_located_with_hints() {
        let e =
            parse_models("[models.small]\nprovider = \"sim\"\nkind = \"embeding\"\n").unwrap_err();
        assert!(
            e.contains("unknown kind `embeding`") && e.contains("did you mean `embedding`?"),
            "{e}"
        );
        let e = parse_models("[models.small]\nprovider = \"sim\"\ndimensions = 8\n").unwrap_err();
        assert!(
            e.contains("sets `dimensions` but is not an embedding model"),
            "{e}"
        );
        let e = parse_models(
            "[models.small]\nprovider = \"sim\"\nkind = \"embedding\"\ndimensions = 0\n",
        )
        .unwrap_err();
        assert!(
            e.contains("`dimensions` must be between 1 and 16384"),
            "{e}"
        );
        let e = parse_models("[models.small]\nprovider = \"anthropic\"\nkind = \"embedding\"\n")
            .unwrap_err();
        assert!(
            e.contains("provider `anthropic` has no embeddings endpoint"),
            "{e}"
        );
        let e = parse_models(
            "[models.small]\nprovider = \"sim\"\nfallback = [\"vec\"]\n\n[models.vec]\nprovider = \"sim\"\nkind = \"embedding\"\n",
        )
        .unwrap_err();
        assert!(
            e.contains("model `small` is a chat model but its fallback `vec` is not"),
            "{e}"
        );
        assert!(e.contains("p.toml:"), "located: {e}");
    }
}
