//! Levelled logging into the host's tracing, prefixed with the node's name.
//!
//! ```no_run
//! use switchyard_node::log;
//!
//! log::debug("scoring the candidate");
//! log::warn(&format!("{} finding(s)", 3));
//! ```
//!
//! The host limits the volume per invocation (`limits.log-kb`, shared with
//! stdout and stderr): the write past the limit ends the invocation with a
//! `log-limit` error, so log sparingly. Control characters in a line are
//! escaped by the host. Never log personal data from the task. Outside a component (native unit tests) there is no host: these
//! functions must only be called from a running node.

use crate::bindings::imports::switchyard::node::log::emit as host_emit;
pub use crate::bindings::imports::switchyard::node::log::Level;

/// Writes one log line at `level`.
pub fn emit(level: Level, message: &str) {
    host_emit(level, message);
}

/// Writes a very detailed diagnostic line.
pub fn trace(message: &str) {
    emit(Level::Trace, message);
}

/// Writes a diagnostic line.
pub fn debug(message: &str) {
    emit(Level::Debug, message);
}

/// Writes a line about normal operation.
pub fn info(message: &str) {
    emit(Level::Info, message);
}

/// Writes a line about something unexpected that the node handled.
pub fn warn(message: &str) {
    emit(Level::Warn, message);
}

/// Writes a line about something that failed.
pub fn error(message: &str) {
    emit(Level::Error, message);
}
