//! The smallest useful judge: rejects a candidate whose `reply` is missing
//! or empty. Build it as a component with
//! `cargo build --release --target wasm32-wasip2 --example minimal-judge`
//! (from `plugins/rust`); it lands in
//! `target/wasm32-wasip2/release/examples/minimal_judge.wasm`.

use switchyard_node::prelude::*;

export_judge!("non-empty", "no empty reply", |_task, candidate| {
    let value: Value = parse_candidate(&candidate)?;
    match value["reply"].as_str() {
        Some(reply) if !reply.trim().is_empty() => Ok(Judgement::accept()),
        _ => Ok(Judgement::reject(["`reply` is missing or empty"])),
    }
});
