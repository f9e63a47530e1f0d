//! The three node roles as traits, and the macros that export them.
//!
//! A component implements exactly one role: write a unit struct, implement
//! [`Router`], [`Worker`] or [`Judge`] for it, and invoke the matching macro
//! ([`export_router!`](crate::export_router), [`export_worker!`](crate::export_worker),
//! [`export_judge!`](crate::export_judge)) once, at the crate's top level.
//! The macro exports the role's interface and `describe` from the component;
//! the WIT bindings underneath stay hidden.
//!
//! ```
//! use switchyard_node::prelude::*;
//!
//! struct Upper;
//!
//! impl Worker for Upper {
//!     fn describe() -> Description {
//!         Description::worker("worker-upper", env!("CARGO_PKG_VERSION"))
//!             .summary("upper-cases a JSON string")
//!             .input_schema(json!({"type": "string"}))
//!     }
//!     fn run(task: Task) -> Result<String, NodeError> {
//!         let text: String = task.input_as()?;
//!         to_output(&text.to_uppercase())
//!     }
//! }
//!
//! export_worker!(Upper);
//! ```
//!
//! The export only happens when compiling for `wasm32`; on the host (native
//! unit tests, tools linking the crate as an `rlib`) the macro merely checks
//! that the type implements the trait, so several nodes can be linked into
//! one native binary.

use core::marker::PhantomData;

use crate::types::{Decision, Description, NodeError, Task, Verdict};

/// A router: classifies a task and picks one branch.
pub trait Router {
    /// States the node's name, version, summary and schemas; build it with
    /// [`Description::router`]. Must be cheap and must not call models.
    fn describe() -> Description;

    /// Classifies `task` and picks one of `candidates`: the branch labels the
    /// manifest declares for this node. The [`Decision`]'s `target` must be
    /// one of them.
    fn route(task: Task, candidates: Vec<String>) -> Result<Decision, NodeError>;
}

/// A worker: does one narrow job, usually through model calls.
pub trait Worker {
    /// States the node's name, version, summary and schemas; build it with
    /// [`Description::worker`]. Must be cheap and must not call models.
    fn describe() -> Description;

    /// Runs the task and returns the output as JSON text (see
    /// [`to_output`](crate::to_output)).
    fn run(task: Task) -> Result<String, NodeError>;
}

/// A judge: accepts, rejects or repairs another node's output. A guardrail
/// is a judge granted no models.
pub trait Judge {
    /// States the node's name, version, summary and schemas; build it with
    /// [`Description::judge`]. Must be cheap and must not call models.
    fn describe() -> Description;

    /// Judges `candidate` (JSON text, see
    /// [`parse_candidate`](crate::parse_candidate)), produced for `task`.
    fn judge(task: Task, candidate: String) -> Result<Verdict, NodeError>;
}

/// Exports a [`Router`] implementation as the component's `router` and
/// `describe` interfaces. Invoke once, at the crate's top level.
///
/// ```
/// use switchyard_node::prelude::*;
///
/// struct First;
///
/// impl Router for First {
///     fn describe() -> Description {
///         Description::router("router-first", env!("CARGO_PKG_VERSION")).summary("picks the first branch")
///     }
///     fn route(_task: Task, candidates: Vec<String>) -> Result<Decision, NodeError> {
///         let first = candidates.first().ok_or_else(|| NodeError::invalid_input("no branches"))?;
///         Ok(Decision::new(first, 1.0, "always the first branch"))
///     }
/// }
///
/// export_router!(First);
/// ```
#[macro_export]
macro_rules! export_router {
    ($node:ty) => {
        const _: fn() = $crate::__private::assert_router::<$node>;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __SwitchyardNode = $crate::__private::RouterNode<$node>;
            $crate::__private::describe::export_describe!(
                __SwitchyardNode with_types_in $crate::__private::describe
            );
            $crate::__private::router::export_router!(
                __SwitchyardNode with_types_in $crate::__private::router
            );
        };
    };
}

/// Exports a [`Worker`] implementation as the component's `worker` and
/// `describe` interfaces. Invoke once, at the crate's top level.
///
/// See the [module documentation](crate::node) for an example.
#[macro_export]
macro_rules! export_worker {
    ($node:ty) => {
        const _: fn() = $crate::__private::assert_worker::<$node>;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __SwitchyardNode = $crate::__private::WorkerNode<$node>;
            $crate::__private::describe::export_describe!(
                __SwitchyardNode with_types_in $crate::__private::describe
            );
            $crate::__private::worker::export_worker!(
                __SwitchyardNode with_types_in $crate::__private::worker
            );
        };
    };
}

/// Exports a [`Judge`] implementation as the component's `judge` and
/// `describe` interfaces. Invoke once, at the crate's top level.
///
/// See the [crate documentation](crate) for an example.
#[macro_export]
macro_rules! export_judge {
    ($node:ty) => {
        const _: fn() = $crate::__private::assert_judge::<$node>;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __SwitchyardNode = $crate::__private::JudgeNode<$node>;
            $crate::__private::describe::export_describe!(
                __SwitchyardNode with_types_in $crate::__private::describe
            );
            $crate::__private::judge::export_judge!(
                __SwitchyardNode with_types_in $crate::__private::judge
            );
        };
    };
}

/// Glue between the role traits and the generated `Guest` traits, used by
/// the export macros. Not public API.
#[doc(hidden)]
pub mod __private {
    use super::*;
    use crate::bindings;

    pub use bindings::{describe, judge, router, worker};

    /// Adapts a [`Router`] to the generated `Guest` traits.
    pub struct RouterNode<T>(PhantomData<T>);
    /// Adapts a [`Worker`] to the generated `Guest` traits.
    pub struct WorkerNode<T>(PhantomData<T>);
    /// Adapts a [`Judge`] to the generated `Guest` traits.
    pub struct JudgeNode<T>(PhantomData<T>);

    /// Compiles only if `T` is a [`Router`].
    pub fn assert_router<T: Router>() {}
    /// Compiles only if `T` is a [`Worker`].
    pub fn assert_worker<T: Worker>() {}
    /// Compiles only if `T` is a [`Judge`].
    pub fn assert_judge<T: Judge>() {}

    impl<T: Router> describe::exports::switchyard::node::describe::Guest for RouterNode<T> {
        fn describe() -> Description {
            T::describe()
        }
    }

    impl<T: Router> router::exports::switchyard::node::router::Guest for RouterNode<T> {
        fn route(task: Task, candidates: Vec<String>) -> Result<Decision, NodeError> {
            T::route(task, candidates)
        }
    }

    impl<T: Worker> describe::exports::switchyard::node::describe::Guest for WorkerNode<T> {
        fn describe() -> Description {
            T::describe()
        }
    }

    impl<T: Worker> worker::exports::switchyard::node::worker::Guest for WorkerNode<T> {
        fn run(task: Task) -> Result<String, NodeError> {
            T::run(task)
        }
    }

    impl<T: Judge> describe::exports::switchyard::node::describe::Guest for JudgeNode<T> {
        fn describe() -> Description {
            T::describe()
        }
    }

    impl<T: Judge> judge::exports::switchyard::node::judge::Guest for JudgeNode<T> {
        fn judge(task: Task, candidate: String) -> Result<Verdict, NodeError> {
            T::judge(task, candidate)
        }
    }
}
