//! The generated WIT bindings, shared by every role (not public API).
//!
//! The contract's worlds (`router-node`, `worker-node`, `judge-node`) all
//! export `describe`, so generating them side by side would define the same
//! `#[macro_export]` export macro three times. Instead the bindings are split
//! into inline worlds that each own a distinct part of the contract:
//!
//! * [`imports`] holds the host imports (`models`, `log`, `config`) and, with
//!   them, the shared `types` interface. Every other module points at these
//!   types through `with`, so `Task`, `Judgement`, … are one Rust type each
//!   (and the worker's `reply` holds the imported `completion-stream`).
//! * [`describe`], [`router`], [`worker`] and [`judge`] each export a single
//!   interface. Their export macros are `pub` (`pub_export_macro`), so the
//!   `component-type` custom section describing that export is emitted in the
//!   plugin crate only when the plugin invokes the macro; the component built
//!   from a judge thus exports `describe` and `judge` and nothing else.
//!
//! `wit-component` merges the sections into one world, structurally equal to
//! the contract world of the role.

// Generated code: the WIT docs become rustdoc where the WIT has them; the
// rest (`Guest` traits, helper macros) is reachable only through the hidden
// `__private` module.
#![allow(missing_docs)]

/// Host imports and the shared `switchyard:node/types` interface.
pub mod imports {
    wit_bindgen::generate!({
        inline: "
            package switchyard:node-kit;
            world imports {
                import switchyard:node/models@0.2.0;
                import switchyard:node/log@0.2.0;
                import switchyard:node/config@0.2.0;
            }
        ",
        path: "../../../wit/node@0.2.0",
        additional_derives: [PartialEq],
        generate_all,
    });
}

/// The `describe` export, implemented by every node.
pub mod describe {
    wit_bindgen::generate!({
        inline: "
            package switchyard:node-kit;
            world describe-export {
                export switchyard:node/describe@0.2.0;
            }
        ",
        path: "../../../wit/node@0.2.0",
        with: { "switchyard:node/types@0.2.0": crate::bindings::imports::switchyard::node::types },
        pub_export_macro: true,
        export_macro_name: "export_describe",
    });
}

/// The `router` export.
pub mod router {
    wit_bindgen::generate!({
        inline: "
            package switchyard:node-kit;
            world router-export {
                export switchyard:node/router@0.2.0;
            }
        ",
        path: "../../../wit/node@0.2.0",
        with: { "switchyard:node/types@0.2.0": crate::bindings::imports::switchyard::node::types },
        pub_export_macro: true,
        export_macro_name: "export_router",
    });
}

/// The `worker` export.
pub mod worker {
    wit_bindgen::generate!({
        inline: "
            package switchyard:node-kit;
            world worker-export {
                export switchyard:node/worker@0.2.0;
            }
        ",
        path: "../../../wit/node@0.2.0",
        with: {
            "switchyard:node/types@0.2.0": crate::bindings::imports::switchyard::node::types,
            "switchyard:node/models@0.2.0": crate::bindings::imports::switchyard::node::models,
        },
        pub_export_macro: true,
        export_macro_name: "export_worker",
    });
}

/// The `judge` export.
pub mod judge {
    wit_bindgen::generate!({
        inline: "
            package switchyard:node-kit;
            world judge-export {
                export switchyard:node/judge@0.2.0;
            }
        ",
        path: "../../../wit/node@0.2.0",
        with: { "switchyard:node/types@0.2.0": crate::bindings::imports::switchyard::node::types },
        pub_export_macro: true,
        export_macro_name: "export_judge",
    });
}
