//! The capability review `switchyard validate` prints before a component
//! first runs: per node, what the component asks for (its contract
//! version, its imports beyond the contract, the needs it declares in
//! `describe`) next to what the manifest grants it (models, model calls,
//! settings, limits, budget) and who signed it; and, for `--strict`, every
//! grant beyond what the node declares it needs.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::Manifest;
use crate::inspect::{classify, ImportKind};
use crate::pipeline::LoadedNode;
use crate::spec::TrustRequirement;

/// One node's review.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeReview {
    /// The node.
    pub node: String,
    /// Where its component came from.
    pub source: String,
    /// The contract version it targets.
    pub contract: String,
    /// Imports that are not the contract or capability-free WASI.
    pub imports_beyond_contract: Vec<String>,
    /// Declared needs: models (names or kinds), model calls, settings;
    /// `None` when not declared (a 0.1 component).
    pub needs_models: Option<Vec<String>>,
    /// Declared model calls per invocation.
    pub needs_model_calls: Option<u32>,
    /// Declared settings keys.
    pub needs_settings: Option<Vec<String>>,
    /// Granted models (manifest names).
    pub granted_models: Vec<String>,
    /// Granted model calls per invocation.
    pub granted_model_calls: u64,
    /// Settings the manifest gives it.
    pub granted_settings: Vec<String>,
    /// Its sandbox limits, as one line.
    pub limits: String,
    /// Its budget, as one line.
    pub budget: String,
    /// `any` or `signed`.
    pub trust: &'static str,
    /// The keys it accepts, when signed.
    pub accepts: Vec<String>,
    /// The keys whose signature verified.
    pub signed_by: Vec<String>,
    /// Grants beyond the declared needs (what `--strict` refuses).
    pub excess: Vec<String>,
}

/// Reviews every node of a loaded pipeline.
pub fn review(manifest: &Manifest, nodes: &BTreeMap<String, LoadedNode>) -> Vec<NodeReview> {
    nodes
        .values()
        .map(|n| {
            let spec = &n.spec;
            let d = &n.component.description;
            let kind_of = |m: &str| manifest.models.get(m).map(|m| m.kind.as_str());
            let mut excess = Vec::new();
            match &d.needs.models {
                Some(needed) => {
                    for m in &spec.models {
                        let covered = needed
                            .iter()
                            .any(|x| x == m || Some(x.as_str()) == kind_of(m));
                        if !covered {
                            excess.push(format!(
                                "model `{m}` is granted, but the component declares it needs {}",
                                if needed.is_empty() {
                                    "no model".to_string()
                                } else {
                                    needed.join(", ")
                                }
                            ));
                        }
                    }
                }
                None if !spec.models.is_empty() => excess.push(format!(
                    "models {} are granted, but the component declares no needs (contract {}: rebuild it on 0.2 and declare them)",
                    spec.models.join(", "),
                    d.contract
                )),
                None => {}
            }
            if let Some(calls) = d.needs.model_calls {
                if spec.limits.model_calls > u64::from(calls) && !spec.models.is_empty() {
                    excess.push(format!(
                        "limits.model-calls is {}, but the component declares at most {calls} per invocation",
                        spec.limits.model_calls
                    ));
                }
            }
            if let Some(needed) = &d.needs.settings {
                for k in spec.settings.keys().filter(|k| !needed.contains(k)) {
                    excess.push(format!("setting `{k}` is given, but the component does not declare reading it"));
                }
            }
            let limits = &spec.limits;
            let budget = if spec.budget.is_unlimited() {
                "none (the run's)".to_string()
            } else {
                let mut parts = Vec::new();
                if let Some(t) = spec.budget.tokens {
                    parts.push(format!("{t} tokens"));
                }
                if let Some(c) = spec.budget.cost {
                    parts.push(c.to_string());
                }
                parts.join(", ")
            };
            NodeReview {
                node: spec.name.clone(),
                source: spec.component.to_string(),
                contract: d.contract.to_string(),
                imports_beyond_contract: n
                    .component
                    .imports
                    .iter()
                    .filter(|i| !matches!(classify(i), ImportKind::Contract | ImportKind::WasiInert))
                    .cloned()
                    .collect(),
                needs_models: d.needs.models.clone(),
                needs_model_calls: d.needs.model_calls,
                needs_settings: d.needs.settings.clone(),
                granted_models: spec.models.clone(),
                granted_model_calls: if spec.models.is_empty() { 0 } else { limits.model_calls },
                granted_settings: spec.settings.keys().cloned().collect(),
                limits: format!(
                    "{} MiB memory, {} ms wall, {} KiB output",
                    limits.memory_bytes >> 20,
                    limits.wall.as_millis(),
                    limits.output_bytes >> 10
                ),
                budget,
                trust: spec.trust.as_str(),
                accepts: match &spec.trust {
                    TrustRequirement::Any => Vec::new(),
                    TrustRequirement::Signed(keys) => keys.iter().map(|k| k.name.clone()).collect(),
                },
                signed_by: n.provenance.signed_by.clone(),
                excess,
            }
        })
        .collect()
}

impl fmt::Display for NodeReview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |l: &Option<Vec<String>>| match l {
            None => "(not declared)".to_string(),
            Some(l) if l.is_empty() => "none".to_string(),
            Some(l) => l.join(", "),
        };
        let or_none = |l: &[String]| {
            if l.is_empty() {
                "none".to_string()
            } else {
                l.join(", ")
            }
        };
        writeln!(f, "  {} ({})", self.node, self.source)?;
        writeln!(
            f,
            "    asks     contract {}; beyond the contract: {}; needs models: {}; model calls: {}; settings: {}",
            self.contract,
            or_none(&self.imports_beyond_contract),
            list(&self.needs_models),
            self.needs_model_calls
                .map_or("(not declared)".to_string(), |n| n.to_string()),
            list(&self.needs_settings),
        )?;
        writeln!(
            f,
            "    granted  models: {}; model calls: {}; settings: {}; {}; budget: {}",
            or_none(&self.granted_models),
            self.granted_model_calls,
            or_none(&self.granted_settings),
            self.limits,
            self.budget
        )?;
        match self.trust {
            "signed" => writeln!(
                f,
                "    trust    signed by {} (accepts {})",
                or_none(&self.signed_by),
                self.accepts.join(", ")
            )?,
            _ => writeln!(f, "    trust    any component (no signature required)")?,
        }
        for e in &self.excess {
            writeln!(f, "    beyond   {e}")?;
        }
        Ok(())
    }
}
