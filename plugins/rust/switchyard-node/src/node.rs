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
//!     fn run(task: Task) -> Result<Reply, NodeError> {
//!         let text: String = task.input_as()?;
//!         Reply::json(&text.to_uppercase())
//!     }
//! }
//!
//! export_worker!(Upper);
//! ```
//!
//! A judge small enough for one function needs no type: the function form
//! of [`export_judge!`](crate::export_judge) takes its name, summary and a
//! closure (see there). A judge that also checks windows of a streamed
//! output implements [`CheckWindow`] as well; the export notices and says
//! so in `describe` (`checks-windows`).
//!
//! The export only happens when compiling for `wasm32`; on the host (native
//! unit tests, tools linking the crate as an `rlib`) the macro merely checks
//! that the type implements the trait, so several nodes can be linked into
//! one native binary.

use core::marker::PhantomData;

use crate::types::{Decision, Description, Judgement, NodeError, Reply, Task, Window};

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

    /// Runs the task. Reply with the whole output as JSON
    /// ([`Reply::json`], or JSON text `.into()`), or hand the host an unread
    /// model stream ([`Reply::stream`]), released to the client window by
    /// window after the window judges.
    fn run(task: Task) -> Result<Reply, NodeError>;
}

/// A judge: accepts, rejects or repairs another node's output, optionally
/// with scores. A guardrail is a judge granted no models.
pub trait Judge {
    /// States the node's name, version, summary and schemas; build it with
    /// [`Description::judge`]. Must be cheap and must not call models. (The
    /// export sets `checks_windows` itself, from [`CheckWindow`].)
    fn describe() -> Description;

    /// Judges `candidate` (JSON text, see
    /// [`parse_candidate`](crate::parse_candidate)), produced for `task`.
    /// A plain verdict converts: `Ok(Verdict::accept().into())`, and so do
    /// reasons (`Vec<String>`: none accepts); add scores with
    /// [`Judgement::score`] and [`Judgement::criterion`].
    fn judge(task: Task, candidate: String) -> Result<Judgement, NodeError>;
}

/// A judge that also gates a streamed output window by window.
/// Implementing it is the declaration: the export answers `describe` with
/// `checks-windows: true` and routes `check-window` here.
pub trait CheckWindow: Judge {
    /// Judges one window of a streamed output. `window.text` is what the
    /// host releases if every window judge accepts; `window.before` the
    /// output so far, already checked. A repair replaces the window's text
    /// (plain text, not JSON: use [`Judgement::repair`] with a `String`).
    fn check_window(task: Task, window: Window) -> Result<Judgement, NodeError>;
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

/// Exports a judge as the component's `judge` and `describe` interfaces.
/// Invoke once, at the crate's top level, in one of two forms.
///
/// A type implementing [`Judge`] (and, to check windows, [`CheckWindow`]):
/// `export_judge!(MyJudge);` (see the [crate documentation](crate)).
///
/// Or a name, a summary and the judge function itself; the version is the
/// crate's (`CARGO_PKG_VERSION`). The function returns
/// `Result<Judgement, NodeError>`, so `?` works on the kit's helpers:
///
/// ```
/// use switchyard_node::prelude::*;
///
/// export_judge!("non-empty", "Rejects an empty reply.", |_task, candidate| {
///     let value: Value = parse_candidate(&candidate)?;
///     let empty = value["reply"].as_str().map_or(true, |r| r.trim().is_empty());
///     Ok(if empty { Judgement::reject(["`reply` is empty"]) } else { Judgement::accept() })
/// });
/// ```
#[macro_export]
macro_rules! export_judge {
    ($name:literal, $summary:literal, $judge:expr $(,)?) => {
        /// The judge declared with `export_judge!`.
        pub struct SwitchyardJudge;
        impl $crate::Judge for SwitchyardJudge {
            fn describe() -> $crate::types::Description {
                $crate::types::Description::judge($name, env!("CARGO_PKG_VERSION"))
                    .summary($summary)
            }
            fn judge(
                task: $crate::types::Task,
                candidate: ::std::string::String,
            ) -> ::core::result::Result<$crate::types::Judgement, $crate::types::NodeError> {
                let judge: fn(
                    $crate::types::Task,
                    ::std::string::String,
                ) -> ::core::result::Result<
                    $crate::types::Judgement,
                    $crate::types::NodeError,
                > = $judge;
                judge(task, candidate)
            }
        }
        $crate::export_judge!(SwitchyardJudge);
    };
    ($node:ty) => {
        const _: fn() = $crate::__private::assert_judge::<$node>;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SwitchyardNode;
            // The borrows below select the impl (see `__private::Probe`).
            #[allow(clippy::needless_borrow)]
            impl $crate::__private::describe::exports::switchyard::node::describe::Guest
                for __SwitchyardNode
            {
                fn describe() -> $crate::types::Description {
                    #[allow(unused_imports)]
                    use $crate::__private::{NoWindows as _, Windows as _};
                    let mut description = <$node as $crate::Judge>::describe();
                    description.checks_windows = $crate::__checks_windows!($node);
                    description
                }
            }
            #[allow(clippy::needless_borrow)]
            impl $crate::__private::judge::exports::switchyard::node::judge::Guest
                for __SwitchyardNode
            {
                fn judge(
                    task: $crate::types::Task,
                    candidate: ::std::string::String,
                ) -> ::core::result::Result<$crate::types::Judgement, $crate::types::NodeError>
                {
                    <$node as $crate::Judge>::judge(task, candidate)
                }
                fn check_window(
                    task: $crate::types::Task,
                    window: $crate::types::Window,
                ) -> ::core::result::Result<$crate::types::Judgement, $crate::types::NodeError>
                {
                    #[allow(unused_imports)]
                    use $crate::__private::{NoWindows as _, Windows as _};
                    (&$crate::__private::Probe::<$node>::new()).check_window(task, window)
                }
            }
            $crate::__private::describe::export_describe!(
                __SwitchyardNode with_types_in $crate::__private::describe
            );
            $crate::__private::judge::export_judge!(
                __SwitchyardNode with_types_in $crate::__private::judge
            );
        };
    };
}

/// Whether the judge type `$node` implements [`CheckWindow`], as the export
/// answers in `describe` (`checks-windows`). Not public API: exported for
/// `export_judge!` and for plugins' native tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __checks_windows {
    ($node:ty) => {{
        #[allow(unused_imports)]
        use $crate::__private::{NoWindows as _, Windows as _};
        // The borrow selects the impl (see `__private::Probe`).
        #[allow(clippy::needless_borrow)]
        let checks = (&$crate::__private::Probe::<$node>::new()).checks_windows();
        checks
    }};
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

    /// Compiles only if `T` is a [`Router`].
    pub fn assert_router<T: Router>() {}
    /// Compiles only if `T` is a [`Worker`].
    pub fn assert_worker<T: Worker>() {}
    /// Compiles only if `T` is a [`Judge`].
    pub fn assert_judge<T: Judge>() {}

    /// Whether a judge type implements [`CheckWindow`], told apart where
    /// the type is concrete (in `export_judge!`) by method resolution:
    /// `(&Probe::<T>::new()).checks_windows()` finds [`Windows`] (receiver
    /// `&Probe<T>`, only when `T: CheckWindow`) before [`NoWindows`]
    /// (receiver `&&Probe<T>`, one auto-reference further).
    pub struct Probe<T>(PhantomData<T>);

    impl<T> Probe<T> {
        /// The probe.
        pub fn new() -> Self {
            Probe(PhantomData)
        }
    }

    impl<T> Default for Probe<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// The judge checks windows.
    pub trait Windows {
        /// True.
        fn checks_windows(&self) -> bool;
        /// Its [`CheckWindow::check_window`].
        fn check_window(&self, task: Task, window: Window) -> Result<Judgement, NodeError>;
    }

    impl<T: CheckWindow> Windows for Probe<T> {
        fn checks_windows(&self) -> bool {
            true
        }
        fn check_window(&self, task: Task, window: Window) -> Result<Judgement, NodeError> {
            T::check_window(task, window)
        }
    }

    /// The judge does not check windows.
    pub trait NoWindows {
        /// False.
        fn checks_windows(&self) -> bool;
        /// An `internal` error: the host only calls `check-window` on a
        /// judge whose `describe` says `checks-windows`.
        fn check_window(&self, task: Task, window: Window) -> Result<Judgement, NodeError>;
    }

    impl<T> NoWindows for &Probe<T> {
        fn checks_windows(&self) -> bool {
            false
        }
        fn check_window(&self, _task: Task, _window: Window) -> Result<Judgement, NodeError> {
            Err(NodeError::internal(
                "this judge does not check windows (its describe says checks-windows: false)",
            ))
        }
    }

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
        fn run(task: Task) -> Result<Reply, NodeError> {
            T::run(task)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        struct Plain;
        impl Judge for Plain {
            fn describe() -> Description {
                Description::judge("plain", "1")
            }
            fn judge(_: Task, _: String) -> Result<Judgement, NodeError> {
                Ok(Judgement::accept())
            }
        }

        struct Windowed;
        impl Judge for Windowed {
            fn describe() -> Description {
                Description::judge("windowed", "1")
            }
            fn judge(_: Task, _: String) -> Result<Judgement, NodeError> {
                Ok(Judgement::accept())
            }
        }
        impl CheckWindow for Windowed {
            fn check_window(_: Task, window: Window) -> Result<Judgement, NodeError> {
                Ok(Judgement::repair(window.text.to_uppercase()))
            }
        }

        fn task() -> Task {
            Task {
                id: "t".into(),
                input: "{}".into(),
                meta: "{}".into(),
                attempt: 0,
                feedback: vec![],
            }
        }

        fn window() -> Window {
            Window {
                text: "hi".into(),
                before: String::new(),
                index: 0,
                last: true,
            }
        }

        #[test]
        // The borrow is the point: it selects the impl (see `Probe`).
        #[allow(clippy::needless_borrow)]
        fn probe_tells_window_judges_apart() {
            #[allow(unused_imports)]
            use super::{NoWindows as _, Windows as _};
            assert!((&Probe::<Windowed>::new()).checks_windows());
            assert!(!(&Probe::<Plain>::new()).checks_windows());
            assert!(crate::__checks_windows!(Windowed));
            assert!(!crate::__checks_windows!(Plain));
            assert_eq!(
                (&Probe::<Windowed>::new())
                    .check_window(task(), window())
                    .unwrap(),
                Judgement::repair(String::from("HI"))
            );
            assert!((&Probe::<Plain>::new())
                .check_window(task(), window())
                .is_err());
        }
    }
}
