//! Host bindings generated from the contract's frozen versions, one module
//! per version and world: `v0_1` from `wit/node@0.1.0`, `v0_2` from
//! `wit/node@0.2.0`. Both are linked side by side (their interfaces have
//! different versioned names), so a pipeline may mix components built for
//! either.
//!
//! Within a version, the router world is generated in full and the worker
//! and judge worlds reuse its imported interfaces (`with`), so `types`,
//! `models`, `log` and `config` exist once per version and are implemented
//! once per version.

#![allow(missing_docs)]

/// `switchyard:node@0.1.0`, frozen.
pub mod v0_1 {
    /// `switchyard:node/router-node` and the shared imported interfaces.
    pub mod router {
        wasmtime::component::bindgen!({
            path: "../wit/node@0.1.0",
            world: "router-node",
            imports: { default: async | trappable },
            exports: { default: async },
        });
    }

    /// `switchyard:node/worker-node`.
    pub mod worker {
        wasmtime::component::bindgen!({
            path: "../wit/node@0.1.0",
            world: "worker-node",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "switchyard:node/types": super::router::switchyard::node::types,
                "switchyard:node/models": super::router::switchyard::node::models,
                "switchyard:node/log": super::router::switchyard::node::log,
                "switchyard:node/config": super::router::switchyard::node::config,
            },
        });
    }

    /// `switchyard:node/judge-node`.
    pub mod judge {
        wasmtime::component::bindgen!({
            path: "../wit/node@0.1.0",
            world: "judge-node",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "switchyard:node/types": super::router::switchyard::node::types,
                "switchyard:node/models": super::router::switchyard::node::models,
                "switchyard:node/log": super::router::switchyard::node::log,
                "switchyard:node/config": super::router::switchyard::node::config,
            },
        });
    }

    pub use router::switchyard::node::types as wit;
    pub use router::switchyard::node::{config, log, models};
}

/// `switchyard:node@0.2.0`: streams, tool calls, embeddings, judge scores
/// and windows, declared needs.
pub mod v0_2 {
    /// `switchyard:node/router-node` and the shared imported interfaces.
    pub mod router {
        wasmtime::component::bindgen!({
            path: "../wit/node@0.2.0",
            world: "router-node",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "switchyard:node/models.completion-stream": crate::engine::stream::ModelStream,
            },
        });
    }

    /// `switchyard:node/worker-node`.
    pub mod worker {
        wasmtime::component::bindgen!({
            path: "../wit/node@0.2.0",
            world: "worker-node",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "switchyard:node/types": super::router::switchyard::node::types,
                "switchyard:node/models": super::router::switchyard::node::models,
                "switchyard:node/log": super::router::switchyard::node::log,
                "switchyard:node/config": super::router::switchyard::node::config,
            },
        });
    }

    /// `switchyard:node/judge-node`.
    pub mod judge {
        wasmtime::component::bindgen!({
            path: "../wit/node@0.2.0",
            world: "judge-node",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "switchyard:node/types": super::router::switchyard::node::types,
                "switchyard:node/models": super::router::switchyard::node::models,
                "switchyard:node/log": super::router::switchyard::node::log,
                "switchyard:node/config": super::router::switchyard::node::config,
            },
        });
    }

    pub use router::switchyard::node::types as wit;
    pub use router::switchyard::node::{config, log, models};
}

/// A version of the contract this host links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ContractVersion {
    /// `switchyard:node@0.1.0`.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `switchyard:node@0.2.0`.
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl ContractVersion {
    /// Every version the host links, oldest first.
    pub const ALL: [ContractVersion; 2] = [ContractVersion::V0_1, ContractVersion::V0_2];
    /// The version new components (the kits, `switchyard new`) target.
    pub const LATEST: ContractVersion = ContractVersion::V0_2;

    /// `0.1.0`, `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1.0",
            ContractVersion::V0_2 => "0.2.0",
        }
    }

    /// The fully qualified name of one of this version's interfaces.
    pub fn interface(self, name: &str) -> String {
        format!("switchyard:node/{name}@{}", self.as_str())
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The versions the host links, for messages: `0.1.0 and 0.2.0`.
pub fn supported_versions() -> String {
    ContractVersion::ALL
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(" and ")
}
