//! Authoring kit for Switchyard nodes in Rust.
//!
//! A node is a WebAssembly component that plays one role in a pipeline:
//! a [`Router`] picks a branch, a [`Worker`] does one narrow job, a [`Judge`]
//! accepts, rejects or repairs another node's output. Implement the role's
//! trait for a unit struct, export it with the matching macro, and build with
//! `cargo build --release --target wasm32-wasip2` (crate type `cdylib`). The
//! WIT contract (`switchyard:node@0.2.0`) and its generated bindings stay
//! inside this crate; plugins do not depend on `wit-bindgen`.
//!
//! A complete judge, in its function form:
//!
//! ```
//! use switchyard_node::prelude::*;
//!
//! export_judge!("non-empty", "no empty reply", |_task, candidate| {
//!     let value: Value = parse_candidate(&candidate)?;
//!     match value["reply"].as_str() {
//!         Some(reply) if !reply.trim().is_empty() => Ok(Judgement::accept()),
//!         _ => Ok(Judgement::reject(["`reply` is missing or empty"])),
//!     }
//! });
//! ```
//!
//! The same judge as a type, which can also give scores, declare schemas
//! and needs, and check windows of a streamed output ([`CheckWindow`]):
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
//!     fn judge(_task: Task, candidate: String) -> Result<Judgement, NodeError> {
//!         let value: Value = parse_candidate(&candidate)?;
//!         let empty = value["reply"].as_str().map_or(true, |r| r.trim().is_empty());
//!         Ok(if empty { Judgement::reject(["`reply` is empty"]).score(0.0) } else { Judgement::accept().score(1.0) })
//!     }
//! }
//!
//! impl CheckWindow for NonEmpty {
//!     fn check_window(_task: Task, window: Window) -> Result<Judgement, NodeError> {
//!         Ok(if window.text.contains("TODO") { Judgement::repair(window.text.replace("TODO", "")) } else { Judgement::accept() })
//!     }
//! }
//!
//! export_judge!(NonEmpty);
//! ```
//!
//! What the kit offers, all in the [`prelude`]:
//!
//! * [`node`]: the role traits ([`Judge`], [`CheckWindow`], [`Worker`],
//!   [`Router`]) and [`export_router!`], [`export_worker!`],
//!   [`export_judge!`];
//! * [`types`]: the contract's types ([`Task`](types::Task),
//!   [`Judgement`](types::Judgement), [`Reply`](types::Reply),
//!   [`Description`](types::Description), …) with constructors such as
//!   `Description::judge(..).summary(..).needs(..)`,
//!   `Judgement::reject([..]).score(0.2)`, `Reply::json(&..)` and
//!   `Reply::stream(stream, Some("reply"))`;
//! * [`json`]: `task.input_as::<T>()`, `task.meta_as::<T>()`,
//!   [`parse_candidate`] and [`to_output`], through serde;
//! * [`settings`]: the node's manifest settings, parsed from JSON;
//! * [`models`]: model calls through the host, with a request builder
//!   (tools included), streams and embeddings;
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
pub use node::{CheckWindow, Judge, Router, Worker};
pub use serde;
pub use serde_json;

/// Everything a node usually needs: `use switchyard_node::prelude::*;`.
pub mod prelude {
    pub use crate::json::{parse_candidate, to_output};
    pub use crate::node::{CheckWindow, Judge, Router, Worker};
    pub use crate::types::{
        Chunk, Completion, CompletionRequest, CompletionStream, Decision, Description,
        EmbeddingRequest, Embeddings, FinishReason, Judgement, Message, ModelError, Needs,
        NodeError, NodeRole, Reply, ResponseFormat, Role, Task, ToolCall, ToolChoice,
        ToolDefinition, Usage, Verdict, Window,
    };
    pub use crate::{export_judge, export_router, export_worker};
    pub use crate::{log, models, settings};
    pub use serde_json::{json, Value};
}
