//! The router: `billing` or `general`, by keywords in the ticket's `text`.

use bench_nodes::route;
use switchyard_node::prelude::*;

struct KeywordRouter;

impl Router for KeywordRouter {
    fn describe() -> Description {
        Description::router("keyword-router", env!("CARGO_PKG_VERSION"))
            .summary("routes a ticket to `billing` or `general` by keywords")
    }

    fn route(task: Task, candidates: Vec<String>) -> Result<Decision, NodeError> {
        let input: Value = task.input_as()?;
        let text = input["text"]
            .as_str()
            .ok_or_else(|| NodeError::invalid_input("expected an object with a string `text`"))?;
        let target = route(text);
        if !candidates.iter().any(|c| c == target) {
            return Err(NodeError::invalid_input(format!(
                "the manifest has no `{target}` branch"
            )));
        }
        Ok(Decision::new(target, 1.0, "keyword match"))
    }
}

export_router!(KeywordRouter);
