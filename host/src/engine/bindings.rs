//! Host bindings generated from `wit/node@0.1.0`, one module per world.
//!
//! The router world is generated in full; the worker and judge worlds reuse
//! its imported interfaces (`with`), so `types`, `models`, `log` and `config`
//! exist once and are implemented once.

#![allow(missing_docs)]

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

/// The WIT package version these bindings implement.
pub const WIT_VERSION: &str = "0.1.0";

/// The fully qualified name of an exported or imported interface.
pub fn interface_name(name: &str) -> String {
    format!("switchyard:node/{name}@{WIT_VERSION}")
}
