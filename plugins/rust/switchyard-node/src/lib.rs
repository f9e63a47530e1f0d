//! Authoring kit for Switchyard nodes in Rust.
//!
//! A node is a WebAssembly component that plays one role in a pipeline:
//! a [`Router`] picks a branch, a [`Worker`] does one narrow job, a [`Judge`]
//! accepts, rejects or repairs another node's output. Implement the role's
//! trait for a unit struct, export it with the matching macro, and build with
//! `cargo build --release --target wasm32-wasip2` (crate type `cdylib`). The
//! WIT contract (`switchyard:node@0.1.0`) and its generated bindings stay
//! inside this crate; plugins do not depend on `wit-bindgen`.
//!
//! A complete judge:
//!
//! ```
//! use switchyard_node::prelude::*;
//!
//! struct NonEmpty;
//!
//! impl Judge for NonEmpty {
//!     fn describe() -> Description {
//!         Description::judge("non-empty", env!("CARGO_PKG_VERSION")).summary("no empty reply")
//!     }
//!     fn judge(_task: Task, candidate: String) -> Result<Verdict, NodeError> {
//!         let value: Value = parse_candidate(&candidate)?;
//!         match value["reply"].as_str() {
//!             Some(reply) if !reply.trim().is_empty() => Ok(Verdict::accept()),
//!             _ => Ok(Verdict::reject(["`reply` is missing or empty"])),
//!         }
//!     }
//! }
//!
//! export_judge!(NonEmpty);
//! ```
//!
//! What the kit offers, all in the [`prelude`]:
//!
//! * [`node`]: the role traits and [`export_router!`], [`export_worker!`],
//!   [`export_judge!`];
//! * [`types`]: the contract's types ([`Task`](types::Task),
//!   [`Verdict`](types::Verdict), [`Description`](types::Description), …)
//!   with constructors such as `Description::judge(..).summary(..)` and
//!   `Verdict::reject([..])`;
//! * [`json`]: `task.input_as::<T>()`, `task.meta_as::<T>()`,
//!   [`parse_candidate`] and [`to_output`], through serde;
//! * [`settings`]: the node's manifest settings, parsed from JSON;
//! * [`models`]: model calls through the host, with a request builder;
//! * [`log`]: levelled logging into the host's tracing.
//!
//! Only the imports a node actually calls end up in its component, and the
//! component exports exactly `describe` plus its role's interface.

#![warn(missing_docs)]

mod bindings;
pub mod json;
pub mod log;
pub mod models;
pub mod node;
pub mod settings;
pub mod types;

#[doc(hidden)]
pub use node::__private;

pub use json::{parse_candidate, to_output};
pub use node::{Judge, Router, Worker};
pub use serde;
pub use serde_json;

/// Everything a node usually needs: `use switchyard_node::prelude::*;`.
pub mod prelude {
    pub use crate::json::{parse_candidate, to_output};
    pub use crate::node::{Judge, Router, Worker};
    pub use crate::types::{
        Completion, CompletionRequest, Decision, Description, Message, ModelError, NodeError,
        NodeRole, ResponseFormat, Role, Task, Usage, Verdict,
    };
    pub use crate::{export_judge, export_router, export_worker};
    pub use crate::{log, models, settings};
    pub use serde_json::{json, Value};
}
