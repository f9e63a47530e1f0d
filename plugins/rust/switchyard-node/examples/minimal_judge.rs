//! The smallest useful judge: rejects a candidate whose `reply` is missing
//! or empty. Build it as a component with
//! `cargo build --release --target wasm32-wasip2 --example minimal-judge`
//! (from `plugins/rust`); it lands in
//! `target/wasm32-wasip2/release/examples/minimal_judge.wasm`.

use switchyard_node::prelude::*;

struct NonEmpty;

impl Judge for NonEmpty {
    fn describe() -> Description {
        Description::judge("non-empty", env!("CARGO_PKG_VERSION")).summary("no empty reply")
    }
    fn judge(_task: Task, candidate: String) -> Result<Verdict, NodeError> {
        let value: Value = parse_candidate(&candidate)?;
        match value["reply"].as_str() {
            Some(reply) if !reply.trim().is_empty() => Ok(Verdict::accept()),
            _ => Ok(Verdict::reject(["`reply` is missing or empty"])),
        }
    }
}

export_judge!(NonEmpty);
