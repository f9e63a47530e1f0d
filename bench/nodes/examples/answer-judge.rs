//! The judge on the answer: rejects an empty one or one holding the banned
//! word.

use switchyard_node::prelude::*;

export_judge!(
    "answer-judge",
    "no empty or leaking answer",
    |_task, candidate| {
        let value: Value = parse_candidate(&candidate)?;
        let answer = value["answer"].as_str().unwrap_or_default();
        Ok(Judgement::from(bench_nodes::check(answer)))
    }
);
