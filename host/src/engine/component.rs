//! Loading a node's component: read, compile (or take from the cache), check
//! that it targets its role's world, pre-instantiate it against the host's
//! linker (type-checking every import and export once), and ask it to
//! describe itself.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;

use super::bindings::{supported_versions, ContractVersion};
use super::cache::{CacheOutcome, CompileCache};
use super::call::RunScope;
pub use super::contract::RolePre;
use super::contract::{Needs, RawDescription};
use super::error::{LoadError, NodeError};
use super::host::{NodeContext, NodeState};
use super::returned::check_description_field;
use super::store::{classify_trap, new_store};
use super::NodeEngine;
use crate::spec::Role;

/// What a component says about itself (its `describe` export).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Description {
    /// Its role.
    pub role: Role,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One line for humans.
    pub summary: String,
    /// JSON Schema of its input, if declared.
    pub input_schema: Option<serde_json::Value>,
    /// JSON Schema of its output, if declared.
    pub output_schema: Option<serde_json::Value>,
    /// The contract version it was built for.
    pub contract: ContractVersion,
    /// What it declares it needs (0.2; undeclared for 0.1).
    pub needs: Needs,
    /// A judge that checks stream windows (0.2 `checks-windows`).
    pub checks_windows: bool,
}

/// How a load went.
#[derive(Debug, Clone, Serialize)]
pub struct LoadInfo {
    /// Component size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the component bytes.
    pub sha256: String,
    /// Time to compile or deserialize.
    pub compile: Duration,
    /// Whether the cache was used.
    pub cache: CacheOutcome,
}

/// A loaded, type-checked node component.
pub struct NodeComponent {
    /// Its role.
    pub role: Role,
    /// The engine it was compiled for (the variant for its stack size).
    pub engine: wasmtime::Engine,
    /// Its wasm stack limit, in bytes.
    pub stack_bytes: usize,
    /// Pre-instantiated form.
    pub pre: RolePre,
    /// Slots of the engine's instance pool one instance takes.
    pub pool_weight: u32,
    /// The engine's instance pool it takes them from.
    pub pool: Arc<super::InstancePool>,
    /// Its self-description.
    pub description: Description,
    /// How it was loaded.
    pub load: LoadInfo,
    /// Every interface it imports, as named in the binary.
    pub imports: Vec<String>,
}

impl std::fmt::Debug for NodeComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeComponent")
            .field("role", &self.role)
            .field("description", &self.description)
            .finish()
    }
}

/// The exported role interfaces of a component, with the contract version
/// each belongs to.
pub fn exported_roles(
    engine: &wasmtime::Engine,
    component: &Component,
) -> Vec<(ContractVersion, Role)> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(n, _)| n.to_string())
        .collect();
    let mut found = Vec::new();
    for version in ContractVersion::ALL {
        for role in [Role::Router, Role::Worker, Role::Judge] {
            if names.iter().any(|n| *n == version.interface(role.as_str())) {
                found.push((version, role));
            }
        }
    }
    found
}

impl NodeEngine {
    /// Reads the file at `path` and compiles it (or takes it from the
    /// cache) for the default engine, without checking any role: for tools
    /// that look at a component before knowing what it is.
    pub fn compile_file(&self, node: &str, path: &Path) -> Result<(Vec<u8>, Component), LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            node: node.into(),
            path: path.into(),
            source,
        })?;
        let component = self.compile_bytes(node, path, &bytes)?;
        Ok((bytes, component))
    }

    /// Compiles `bytes` (from `path`, for messages), or takes them from the
    /// cache, for the default engine, without checking any role.
    pub fn compile_bytes(
        &self,
        node: &str,
        path: &Path,
        bytes: &[u8],
    ) -> Result<Component, LoadError> {
        let digest = CompileCache::digest(bytes);
        let (component, _) = self
            .cache()
            .load(self.wasmtime(), bytes, &digest)
            .map_err(|e| LoadError::NotAComponent {
                node: node.into(),
                path: path.into(),
                reason: format!("{e:#}"),
            })?;
        Ok(component)
    }

    /// Loads the component at `path` for node `node` of role `role`, with
    /// the default wasm stack size.
    pub async fn load_component(
        &self,
        node: &str,
        role: Role,
        path: &Path,
    ) -> Result<Arc<NodeComponent>, LoadError> {
        self.load_component_sized(node, role, path, super::DEFAULT_WASM_STACK)
            .await
    }

    /// Loads the component at `path` to run with a wasm stack of
    /// `stack_bytes` (the node's `limits.stack-kb`).
    pub async fn load_component_sized(
        &self,
        node: &str,
        role: Role,
        path: &Path,
        stack_bytes: usize,
    ) -> Result<Arc<NodeComponent>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            node: node.into(),
            path: path.into(),
            source,
        })?;
        self.load_component_bytes(node, role, path, &bytes, stack_bytes)
            .await
    }

    /// Loads a component from bytes (`path` is only used in messages) to
    /// run with a wasm stack of `stack_bytes`.
    pub async fn load_component_bytes(
        &self,
        node: &str,
        role: Role,
        path: &Path,
        bytes: &[u8],
        stack_bytes: usize,
    ) -> Result<Arc<NodeComponent>, LoadError> {
        let started = Instant::now();
        let variant = self
            .variant(stack_bytes)
            .map_err(|e| LoadError::NotAComponent {
                node: node.into(),
                path: path.into(),
                reason: e.to_string(),
            })?;
        let (component, cache, sha256) = {
            let engine = variant.engine.clone();
            let cache = self.cache().clone();
            let bytes = bytes.to_vec();
            // Compilation is CPU-heavy; keep it off the async workers.
            tokio::task::spawn_blocking(move || {
                let digest = CompileCache::digest(&bytes);
                cache
                    .load(&engine, &bytes, &digest)
                    .map(|(c, outcome)| (c, outcome, digest))
            })
            .await
            .map_err(|e| LoadError::NotAComponent {
                node: node.into(),
                path: path.into(),
                reason: e.to_string(),
            })?
            .map_err(|e| {
                let reason = format!("{e:#}");
                // Wasmtime refuses at compile time what can never fit one
                // instance of the pool: say so as the pool's error.
                if reason.contains("in the pooling allocator") {
                    LoadError::Pool {
                        node: node.into(),
                        path: path.into(),
                        reason,
                    }
                } else {
                    LoadError::NotAComponent {
                        node: node.into(),
                        path: path.into(),
                        reason,
                    }
                }
            })?
        };
        let load = LoadInfo {
            bytes: bytes.len() as u64,
            sha256,
            compile: started.elapsed(),
            cache,
        };

        let pool_weight = super::pool::Needs::of(bytes, &component)
            .weight(self.pool_slots())
            .map_err(|reason| LoadError::Pool {
                node: node.into(),
                path: path.into(),
                reason,
            })?;

        let roles = exported_roles(&variant.engine, &component);
        let Some(&(version, _)) = roles.iter().find(|(_, r)| *r == role) else {
            let wanted = ContractVersion::ALL
                .iter()
                .map(|v| format!("`{}`", v.interface(role.as_str())))
                .collect::<Vec<_>>()
                .join(" or ");
            let found = match roles.as_slice() {
                [] => format!(
                    "exports none of the node interfaces of switchyard:node@{} (it must export {wanted})",
                    supported_versions()
                ),
                [(v, other), ..] => format!(
                    "targets the {other} world (it exports `{}`, not {wanted})",
                    v.interface(other.as_str()),
                ),
            };
            return Err(LoadError::WrongWorld {
                node: node.into(),
                path: path.into(),
                expected_role: role.to_string(),
                found,
            });
        };

        let contract = |e: wasmtime::Error| LoadError::Contract {
            node: node.into(),
            path: path.into(),
            reason: format!("{e:#}"),
        };
        let instance_pre = variant
            .linker
            .instantiate_pre(&component)
            .map_err(contract)?;
        let pre = RolePre::new(version, role, instance_pre).map_err(contract)?;
        let engine = variant.engine.clone();
        let imports = component
            .component_type()
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let checked = started.elapsed();
        let description = self
            .describe(node, path, role, &engine, stack_bytes, pool_weight, &pre)
            .await?;
        tracing::debug!(
            node,
            cache = ?load.cache,
            compile_ms = load.compile.as_secs_f64() * 1e3,
            typecheck_ms = (checked - load.compile).as_secs_f64() * 1e3,
            describe_ms = (started.elapsed() - checked).as_secs_f64() * 1e3,
            "component loaded"
        );
        Ok(Arc::new(NodeComponent {
            role,
            engine,
            stack_bytes,
            pre,
            pool_weight,
            pool: self.pool(),
            description,
            load,
            imports,
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn describe(
        &self,
        node: &str,
        path: &Path,
        role: Role,
        engine: &wasmtime::Engine,
        stack_bytes: usize,
        pool_weight: u32,
        pre: &RolePre,
    ) -> Result<Description, LoadError> {
        let raw = self
            .call_describe(node, engine, stack_bytes, pool_weight, pre)
            .await;
        check_description(node, path, role, pre.version(), raw)
    }
}

/// What load makes of a component's answer to `describe` (or of its
/// failure): the description, once its role matches the one it is loaded
/// for, every field is within its bound, its schemas are JSON within
/// `schema::bounds`, and its `needs` are plain names — else a typed
/// `LoadError` naming the node and what is wrong. A component's answer is
/// untrusted; this is the only path from it to a [`Description`].
pub fn check_description(
    node: &str,
    path: &Path,
    role: Role,
    contract: ContractVersion,
    raw: Result<RawDescription, NodeError>,
) -> Result<Description, LoadError> {
    let fail = |reason: String| LoadError::Describe {
        node: node.into(),
        path: path.into(),
        reason,
    };
    let bound = |what: &str, reason: String| LoadError::Bound {
        node: node.into(),
        path: path.into(),
        what: what.into(),
        reason,
    };
    let d = match raw {
        Ok(d) => d,
        Err(e @ NodeError::OutputLimit { .. }) => {
            return Err(bound("a `describe` answer", e.to_string()))
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    let got = d.role;
    if got != role {
        return Err(fail(format!(
            "it says it is a {got} but exports the {role} interface"
        )));
    }
    for (field, value) in [
        ("name", &d.name),
        ("version", &d.version),
        ("summary", &d.summary),
    ] {
        check_description_field(field, value)
            .map_err(|reason| bound(&format!("a `describe` {field}"), reason))?;
    }
    // A component's own schemas are untrusted: bounded in size, depth
    // and fan-out before the host compiles or runs them.
    let schema = |field: &str, s: Option<String>| -> Result<Option<serde_json::Value>, LoadError> {
        let Some(text) = s else { return Ok(None) };
        let what = format!("its {field}");
        check_description_field(field, &text).map_err(|r| bound(&what, r))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| fail(format!("its {field} is not JSON: {e}")))?;
        crate::schema::bounds::check(&value).map_err(|r| bound(&what, r.to_string()))?;
        Ok(Some(value))
    };
    check_needs(&d.needs).map_err(|r| bound("its `needs`", r))?;
    Ok(Description {
        role,
        input_schema: schema("input-schema", d.input_schema)?,
        output_schema: schema("output-schema", d.output_schema)?,
        name: d.name,
        version: d.version,
        summary: d.summary,
        contract,
        needs: d.needs,
        checks_windows: d.checks_windows && role == Role::Judge,
    })
}

impl NodeEngine {
    /// Calls `describe` on a fresh instance with default limits.
    pub(crate) async fn call_describe(
        &self,
        node: &str,
        engine: &wasmtime::Engine,
        stack_bytes: usize,
        pool_weight: u32,
        pre: &RolePre,
    ) -> Result<RawDescription, NodeError> {
        let pool = self.pool();
        let Ok(_permit) = pool.slots.acquire_many(pool_weight).await else {
            return Err(NodeError::Instantiate {
                node: node.into(),
                message: "engine is shutting down".into(),
            });
        };
        let mut ctx = NodeContext::bare(node);
        ctx.limits.stack_bytes = stack_bytes as u64;
        let ctx = Arc::new(ctx);
        let hub = self.empty_hub();
        let mut store = new_store(engine, NodeState::new(ctx, RunScope::detached(hub)));
        let wall = crate::spec::Limits::default().wall;
        let clock = store.data().clock.clone();
        let r = tokio::time::timeout(wall, clock.meter(pre.describe(&mut store))).await;
        match r {
            Err(_) => Err(NodeError::WallTimeout {
                node: node.into(),
                limit_ms: wall.as_millis() as u64,
            }),
            Ok(Ok(d)) => Ok(d),
            Ok(Err(trap)) => Err(classify_trap(node, store.data(), &trap)),
        }
    }
}

/// Entries a `needs` list may hold.
const MAX_NEEDS: usize = 64;

/// Why a component's declared needs are refused: too many entries, or an
/// entry that is not a short plain name.
fn check_needs(needs: &Needs) -> Result<(), String> {
    for (field, list) in [("models", &needs.models), ("settings", &needs.settings)] {
        let Some(list) = list else { continue };
        if list.len() > MAX_NEEDS {
            return Err(format!(
                "it lists {} {field}, over the bound of {MAX_NEEDS}",
                list.len()
            ));
        }
        for entry in list {
            check_description_field("name", entry)
                .map_err(|r| format!("an entry of its `{field}`: {r}"))?;
        }
    }
    Ok(())
}
