//! A worker making one model call: the model named by setting `model`,
//! asked what setting `ask` says about the ticket's `text`. Output:
//! `{"<field>": content, "model": .., "tokens": n}` with `field` from the
//! settings (default `answer`).

use switchyard_node::prelude::*;

struct OneCallWorker;

impl Worker for OneCallWorker {
    fn describe() -> Description {
        Description::worker("one-call-worker", env!("CARGO_PKG_VERSION"))
            .summary("one model call about the ticket")
            .needs(
                Needs::models(["chat"])
                    .model_calls(1)
                    .settings(["model", "ask", "field"]),
            )
    }

    fn run(task: Task) -> Result<Reply, NodeError> {
        let model = settings::string("model")?
            .ok_or_else(|| NodeError::invalid_input("setting `model` is required"))?;
        let ask = settings::string("ask")?.unwrap_or_else(|| "Answer the ticket.".into());
        let field = settings::string("field")?.unwrap_or_else(|| "answer".into());
        let input: Value = task.input_as()?;
        let text = input["text"]
            .as_str()
            .ok_or_else(|| NodeError::invalid_input("expected an object with a string `text`"))?;
        let answer = CompletionRequest::new(model)
            .system(ask)
            .user(text)
            .max_tokens(64)
            .send()?;
        let mut out = serde_json::Map::new();
        out.insert(field, Value::String(answer.content));
        out.insert("model".into(), Value::String(answer.model));
        out.insert("tokens".into(), answer.usage.output_tokens.into());
        Reply::json(&Value::Object(out))
    }
}

export_worker!(OneCallWorker);
