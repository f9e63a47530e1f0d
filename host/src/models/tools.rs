//! Tool calls: the checks on the tools a node sends with a completion
//! request (names, uniqueness, parameter schemas, the tool choice, tool
//! messages), the bounds on the tool calls an answer may carry, the wire
//! forms the `openai` and `anthropic` providers send and parse, and the
//! deterministic tool behaviour of `sim`. The host never runs a tool: a
//! tool call goes back to the node, which runs it or returns it.

use serde_json::{json, Map, Value};

use super::types::{
    estimate_tokens, ChatMessage, ChatRequest, ChatResponse, ChatRole, ModelError, ResponseFormat,
    ToolCall, ToolChoice, ToolDef, Usage,
};

/// Tools one request may define.
pub const MAX_TOOLS: usize = 128;
/// Bytes of one tool definition (description and parameter schema).
pub const MAX_TOOL_DEF_BYTES: usize = 64 << 10;
/// Tool calls one answer (or one message) may carry.
pub const MAX_TOOL_CALLS: usize = 128;
/// Bytes of one tool call's arguments.
pub const MAX_TOOL_ARGUMENT_BYTES: usize = 256 << 10;
/// Bytes of a tool call's id or name.
pub const MAX_TOOL_ID_BYTES: usize = 256;

/// True for a valid tool name: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks the tools, tool choice and tool messages of `req`; the error
/// names the field. Nothing is reserved or sent for a request that fails.
pub fn validate(req: &ChatRequest) -> Result<(), ModelError> {
    let bad = |m: String| Err(ModelError::InvalidRequest(m));
    if req.tools.len() > MAX_TOOLS {
        return bad(format!(
            "`tools`: {} tools, more than the {MAX_TOOLS} a request may define",
            req.tools.len()
        ));
    }
    for (i, t) in req.tools.iter().enumerate() {
        if !valid_name(&t.name) {
            return bad(format!(
                "`tools[{i}].name` `{}` must be 1 to 64 letters, digits, `_` or `-`",
                crate::text::shown(&t.name)
            ));
        }
        if req.tools[..i].iter().any(|o| o.name == t.name) {
            return bad(format!(
                "`tools[{i}].name`: tool `{}` is defined twice",
                t.name
            ));
        }
        if !t.parameters.is_object() {
            return bad(format!(
                "`tools[{i}].parameters` of tool `{}` must be a JSON Schema object",
                t.name
            ));
        }
        let size = t.description.len() + t.parameters.to_string().len();
        if size > MAX_TOOL_DEF_BYTES {
            return bad(format!(
                "`tools[{i}]`: tool `{}` is {size} bytes, more than {MAX_TOOL_DEF_BYTES}",
                t.name
            ));
        }
    }
    if let ToolChoice::Named(name) = &req.tool_choice {
        if !req.tools.is_empty() && !req.tools.iter().any(|t| &t.name == name) {
            return bad(format!(
                "`tool-choice` names tool `{}`, which `tools` does not define",
                crate::text::shown(name)
            ));
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.role == ChatRole::Tool && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
            return bad(format!(
                "`messages[{i}]` is a `tool` message without a `tool-call-id`"
            ));
        }
        if !m.tool_calls.is_empty() && m.role != ChatRole::Assistant {
            return bad(format!(
                "`messages[{i}].tool-calls`: only `assistant` messages carry tool calls"
            ));
        }
        check_calls(&m.tool_calls)
            .map_err(|e| ModelError::InvalidRequest(format!("`messages[{i}].tool-calls`: {e}")))?;
    }
    Ok(())
}

/// Checks the tool calls of an answer against the bounds; an answer past
/// them is unusable (the hub treats it like a malformed body).
pub fn check_answer(resp: &ChatResponse) -> Result<(), ModelError> {
    check_answer_calls(&resp.tool_calls)
}

/// [`check_answer`] on the tool calls alone (a stream's final event).
pub fn check_answer_calls(calls: &[ToolCall]) -> Result<(), ModelError> {
    check_calls(calls).map_err(|e| {
        ModelError::Unavailable(format!(
            "the upstream's answer was refused: its tool calls {e}"
        ))
    })
}

fn check_calls(calls: &[ToolCall]) -> Result<(), String> {
    if calls.len() > MAX_TOOL_CALLS {
        return Err(format!("are {}, more than {MAX_TOOL_CALLS}", calls.len()));
    }
    for c in calls {
        if c.id.len() > MAX_TOOL_ID_BYTES || c.name.len() > MAX_TOOL_ID_BYTES {
            return Err(format!("have an id or name over {MAX_TOOL_ID_BYTES} bytes"));
        }
        if c.arguments.len() > MAX_TOOL_ARGUMENT_BYTES {
            return Err(format!(
                "have arguments of {} bytes, more than {MAX_TOOL_ARGUMENT_BYTES}",
                c.arguments.len()
            ));
        }
    }
    Ok(())
}

/// The arguments of a call as a JSON value for providers that send them
/// as structured data (Anthropic's `input`): the parsed object, or an
/// empty object when the text is not a JSON object.
fn arguments_value(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// OpenAI chat-completions messages: assistant tool calls as
/// `tool_calls: [{id, type: "function", function: {name, arguments}}]`,
/// tool results as `role: "tool"` with `tool_call_id`.
pub fn openai_messages(messages: &[ChatMessage]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|m| {
                let mut o = Map::new();
                o.insert("role".into(), json!(m.role.as_str()));
                o.insert("content".into(), json!(m.content));
                if !m.tool_calls.is_empty() {
                    let calls: Vec<Value> = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}})
                        })
                        .collect();
                    o.insert("tool_calls".into(), Value::Array(calls));
                }
                if let Some(id) = &m.tool_call_id {
                    o.insert("tool_call_id".into(), json!(id));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

/// Adds `tools` and `tool_choice` to an OpenAI body (nothing without
/// tools).
pub fn openai_tools(req: &ChatRequest, body: &mut Map<String, Value>) {
    if req.tools.is_empty() {
        return;
    }
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}})
        })
        .collect();
    body.insert("tools".into(), Value::Array(tools));
    let choice = match &req.tool_choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(n) => json!({"type": "function", "function": {"name": n}}),
    };
    body.insert("tool_choice".into(), choice);
}

/// The tool calls of an OpenAI answer (`choices[0].message.tool_calls`).
pub fn openai_tool_calls(v: &Value) -> Result<Vec<ToolCall>, ModelError> {
    let Some(calls) = v.pointer("/choices/0/message/tool_calls") else {
        return Ok(Vec::new());
    };
    let Some(calls) = calls.as_array() else {
        return if calls.is_null() {
            Ok(Vec::new())
        } else {
            Err(ModelError::Unavailable(
                "response's `tool_calls` is not a list".into(),
            ))
        };
    };
    calls
        .iter()
        .map(|c| {
            let text = |p: &str| c.pointer(p).and_then(Value::as_str);
            let name = text("/function/name").ok_or_else(|| {
                ModelError::Unavailable("a tool call in the response has no function name".into())
            })?;
            // Arguments are JSON text; some servers send an object instead.
            let arguments = match c.pointer("/function/arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => "{}".to_string(),
                Some(other) => other.to_string(),
            };
            Ok(ToolCall {
                id: text("/id").unwrap_or_default().to_string(),
                name: name.to_string(),
                arguments,
            })
        })
        .collect()
}

/// Anthropic Messages API messages (system messages excluded): assistant
/// tool calls as `tool_use` blocks, tool results as `user` messages of
/// `tool_result` blocks (consecutive results share one message).
pub fn anthropic_messages(messages: &[ChatMessage]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    for m in messages.iter().filter(|m| m.role != ChatRole::System) {
        if m.role == ChatRole::Tool {
            results.push(json!({"type": "tool_result",
                "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content}));
            continue;
        }
        if !results.is_empty() {
            out.push(json!({"role": "user", "content": std::mem::take(&mut results)}));
        }
        if m.role == ChatRole::Assistant && !m.tool_calls.is_empty() {
            let mut blocks = Vec::new();
            if !m.content.is_empty() {
                blocks.push(json!({"type": "text", "text": m.content}));
            }
            for c in &m.tool_calls {
                blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name,
                    "input": arguments_value(&c.arguments)}));
            }
            out.push(json!({"role": "assistant", "content": blocks}));
        } else {
            let role = if m.role == ChatRole::Assistant {
                "assistant"
            } else {
                "user"
            };
            out.push(json!({"role": role, "content": m.content}));
        }
    }
    if !results.is_empty() {
        out.push(json!({"role": "user", "content": results}));
    }
    out
}

/// Adds `tools` (with `input_schema`) and `tool_choice` to an Anthropic
/// body; with the choice `none` the tools are left out.
pub fn anthropic_tools(req: &ChatRequest, body: &mut Map<String, Value>) {
    if req.tools.is_empty() || req.tool_choice == ToolChoice::None {
        return;
    }
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(
            |t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}),
        )
        .collect();
    body.insert("tools".into(), Value::Array(tools));
    let choice = match &req.tool_choice {
        ToolChoice::Auto | ToolChoice::None => json!({"type": "auto"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Named(n) => json!({"type": "tool", "name": n}),
    };
    body.insert("tool_choice".into(), choice);
}

/// The `tool_use` blocks of an Anthropic answer, their `input` as JSON
/// text.
pub fn anthropic_tool_calls(blocks: &[Value]) -> Vec<ToolCall> {
    blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| ToolCall {
            id: b["id"].as_str().unwrap_or_default().to_string(),
            name: b["name"].as_str().unwrap_or_default().to_string(),
            arguments: if b["input"].is_null() {
                "{}".to_string()
            } else {
                b["input"].to_string()
            },
        })
        .collect()
}

/// Tool calls arriving in fragments in a streamed answer, keyed by the
/// upstream's index: OpenAI's `choices[0].delta.tool_calls[]` (`index`,
/// then `id` and `function.name` once, `function.arguments` in pieces),
/// Anthropic's `tool_use` content blocks (`content_block_start`, then
/// `input_json_delta` pieces of the input). Bounded as whole answers are:
/// past [`MAX_TOOL_CALLS`] calls or [`MAX_TOOL_ARGUMENT_BYTES`] of one
/// call's arguments the stream is refused as soon as it gets there.
#[derive(Debug, Default)]
pub struct StreamedToolCalls {
    /// The calls so far, by the upstream's index.
    calls: std::collections::BTreeMap<u64, PartialCall>,
}

/// One call of a stream, so far.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    /// The argument fragments, joined.
    arguments: String,
    /// The input given whole at the start of a block, used when no
    /// fragment came.
    whole: Option<String>,
}

impl StreamedToolCalls {
    /// The call at `index`, opened if new.
    fn slot(&mut self, index: u64) -> Result<&mut PartialCall, ModelError> {
        if !self.calls.contains_key(&index) && self.calls.len() >= MAX_TOOL_CALLS {
            return Err(ModelError::Unavailable(format!(
                "the upstream's answer was refused: its tool calls are more than {MAX_TOOL_CALLS}"
            )));
        }
        Ok(self.calls.entry(index).or_default())
    }

    /// Adds the fragments of one OpenAI chunk (`choices[0].delta.tool_calls`;
    /// nothing when it has none).
    pub fn openai_chunk(&mut self, chunk: &Value) -> Result<(), ModelError> {
        let Some(list) = chunk.pointer("/choices/0/delta/tool_calls") else {
            return Ok(());
        };
        let Some(list) = list.as_array() else {
            return if list.is_null() {
                Ok(())
            } else {
                Err(ModelError::Unavailable(
                    "a streamed `tool_calls` is not a list".into(),
                ))
            };
        };
        for (i, f) in list.iter().enumerate() {
            // `index` is required by the protocol; a server leaving it out
            // sends whole calls, one per position.
            let index = f["index"].as_u64().unwrap_or(i as u64);
            let text = |p: &str| {
                f.pointer(p)
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
            };
            let id = text("/id");
            let name = text("/function/name");
            let arguments = match f.pointer("/function/arguments") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Null) | None => None,
                // Some servers send the arguments as an object.
                Some(other) => Some(other.to_string()),
            };
            let call = self.slot(index)?;
            if let (Some(id), true) = (id, call.id.is_empty()) {
                call.id = id.to_string();
            }
            if let (Some(name), true) = (name, call.name.is_empty()) {
                call.name = name.to_string();
            }
            if let Some(a) = arguments {
                call.push(&a)?;
            }
        }
        Ok(())
    }

    /// An Anthropic `content_block_start` of a `tool_use` block at `index`.
    pub fn anthropic_start(&mut self, index: u64, block: &Value) -> Result<(), ModelError> {
        let call = self.slot(index)?;
        call.id = block["id"].as_str().unwrap_or_default().to_string();
        call.name = block["name"].as_str().unwrap_or_default().to_string();
        // Usually `{}`, the input then coming in `input_json_delta`s.
        call.whole = match &block["input"] {
            Value::Null => None,
            v => Some(v.to_string()),
        };
        Ok(())
    }

    /// An Anthropic `input_json_delta` of the block at `index`.
    pub fn anthropic_input(&mut self, index: u64, partial: &str) -> Result<(), ModelError> {
        self.slot(index)?.push(partial)
    }

    /// The calls, whole, in index order; a call left without a name makes
    /// the answer unusable.
    pub fn finish(self) -> Result<Vec<ToolCall>, ModelError> {
        self.calls
            .into_values()
            .map(|c| {
                if c.name.is_empty() {
                    return Err(ModelError::Unavailable(
                        "a streamed tool call has no function name".into(),
                    ));
                }
                let arguments = if !c.arguments.is_empty() {
                    c.arguments
                } else {
                    c.whole.unwrap_or_else(|| "{}".to_string())
                };
                Ok(ToolCall {
                    id: c.id,
                    name: c.name,
                    arguments,
                })
            })
            .collect()
    }
}

impl PartialCall {
    fn push(&mut self, fragment: &str) -> Result<(), ModelError> {
        if self.arguments.len() + fragment.len() > MAX_TOOL_ARGUMENT_BYTES {
            return Err(ModelError::Unavailable(format!(
                "the upstream's answer was refused: its tool calls have arguments of more than {MAX_TOOL_ARGUMENT_BYTES} bytes"
            )));
        }
        self.arguments.push_str(fragment);
        Ok(())
    }
}

/// What `sim` answers to a request with tools, or after a tool result;
/// `None` when tools play no part and it answers as usual.
///
/// With tools, a choice other than `none`, and a last message that is not
/// a tool result, it calls the named tool (or the first) with one string
/// argument per required parameter, taken from the last user message.
/// After a tool result it answers text quoting the result (a JSON-format
/// request gets its usual JSON answer instead).
pub fn sim_answer(req: &ChatRequest) -> Option<ChatResponse> {
    let last = req.messages.last();
    // After a tool result, a text request gets the result quoted back; a
    // JSON one gets its usual JSON answer.
    let text = req.format == ResponseFormat::Text;
    if let Some(result) = last.filter(|m| m.role == ChatRole::Tool && text) {
        let tool = req
            .messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .find(|c| Some(&c.id) == result.tool_call_id.as_ref())
            .map_or("the", |c| c.name.as_str());
        let quoted: String = result.content.chars().take(400).collect();
        let content = format!("The `{tool}` tool answered: {quoted}");
        return Some(ChatResponse {
            usage: Usage {
                input_tokens: req.prompt_tokens_estimate(),
                output_tokens: estimate_tokens(&content),
                estimated: false,
            },
            content,
            model: String::new(),
            finish_reason: Some("stop".into()),
            tool_calls: Vec::new(),
        });
    }
    if req.tools.is_empty() || req.tool_choice == ToolChoice::None {
        return None;
    }
    let tool: &ToolDef = match &req.tool_choice {
        ToolChoice::Named(n) => req.tools.iter().find(|t| &t.name == n)?,
        _ => req.tools.first()?,
    };
    let user = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::User)
        .map_or("", |m| m.content.as_str());
    let words: Vec<&str> = user.split_whitespace().take(8).collect();
    let value = if words.is_empty() {
        "n/a".to_string()
    } else {
        words.join(" ")
    };
    let mut args = Map::new();
    if let Some(required) = tool.parameters.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            args.insert(name.to_string(), json!(value));
        }
    }
    let arguments = Value::Object(args).to_string();
    let id = format!("call_{}", &req.canonical_hash()[..24]);
    let output = estimate_tokens(&tool.name) + estimate_tokens(&arguments) + 4;
    Some(ChatResponse {
        content: String::new(),
        usage: Usage {
            input_tokens: req.prompt_tokens_estimate(),
            output_tokens: output,
            estimated: false,
        },
        model: String::new(),
        finish_reason: Some("tool_calls".into()),
        tool_calls: vec![ToolCall {
            id,
            name: tool.name.clone(),
            arguments,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather() -> ToolDef {
        ToolDef {
            name: "get_weather".into(),
            description: "Weather for a city".into(),
            parameters: json!({"type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"]}),
        }
    }

    fn req_with_tools() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::new(ChatRole::User, "weather in Paris today")],
            tools: vec![weather()],
            ..Default::default()
        }
    }

    fn invalid(req: &ChatRequest) -> String {
        match validate(req) {
            Err(ModelError::InvalidRequest(m)) => m,
            other => panic!("expected invalid-request, got {other:?}"),
        }
    }

    #[test]
    fn tools_validation_names_the_field() {
        assert!(validate(&req_with_tools()).is_ok());
        let mut r = req_with_tools();
        r.tools[0].name = "get weather".into();
        assert!(invalid(&r).contains("`tools[0].name`"));
        let mut r = req_with_tools();
        r.tools[0].name = "x".repeat(65);
        assert!(invalid(&r).contains("`tools[0].name`"));
        let mut r = req_with_tools();
        r.tools.push(weather());
        assert!(invalid(&r).contains("defined twice"));
        let mut r = req_with_tools();
        r.tools[0].parameters = json!("string");
        assert!(invalid(&r).contains("`tools[0].parameters`"));
        let mut r = req_with_tools();
        r.tools = (0..129)
            .map(|i| ToolDef {
                name: format!("t{i}"),
                ..weather()
            })
            .collect();
        assert!(invalid(&r).contains("more than the 128"));
        let mut r = req_with_tools();
        r.tool_choice = ToolChoice::Named("nope".into());
        assert!(invalid(&r).contains("`tool-choice`"));
        let mut r = req_with_tools();
        r.messages.push(ChatMessage::new(ChatRole::Tool, "sunny"));
        assert!(invalid(&r).contains("`messages[1]`"));
        let mut r = req_with_tools();
        r.messages[0].tool_calls.push(ToolCall {
            id: "1".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
        });
        assert!(invalid(&r).contains("only `assistant`"));
    }

    #[test]
    fn tools_answer_bounds_refuse_oversized_calls() {
        let call = ToolCall {
            id: "c".into(),
            name: "t".into(),
            arguments: "{}".into(),
        };
        let mut resp = ChatResponse {
            content: String::new(),
            usage: Usage::default(),
            model: String::new(),
            finish_reason: None,
            tool_calls: vec![call.clone(); MAX_TOOL_CALLS],
        };
        assert!(check_answer(&resp).is_ok());
        resp.tool_calls.push(call.clone());
        assert!(matches!(
            check_answer(&resp),
            Err(ModelError::Unavailable(_))
        ));
        resp.tool_calls = vec![ToolCall {
            arguments: "x".repeat(MAX_TOOL_ARGUMENT_BYTES + 1),
            ..call
        }];
        assert!(check_answer(&resp).is_err());
    }

    #[test]
    fn sim_tool_call_is_deterministic_and_fills_required_fields() {
        let a = sim_answer(&req_with_tools()).unwrap();
        assert_eq!(a, sim_answer(&req_with_tools()).unwrap());
        assert_eq!(a.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(a.tool_calls.len(), 1);
        let call = &a.tool_calls[0];
        assert_eq!(call.name, "get_weather");
        let args: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(args, json!({"city": "weather in Paris today"}));
        let mut none = req_with_tools();
        none.tool_choice = ToolChoice::None;
        assert!(sim_answer(&none).is_none());
        assert!(sim_answer(&ChatRequest::default()).is_none());
    }

    #[test]
    fn sim_tool_round_trip_quotes_the_result() {
        let mut r = req_with_tools();
        let call = sim_answer(&r).unwrap().tool_calls.remove(0);
        r.messages.push(ChatMessage {
            tool_calls: vec![call.clone()],
            ..ChatMessage::new(ChatRole::Assistant, "")
        });
        r.messages.push(ChatMessage {
            tool_call_id: Some(call.id.clone()),
            ..ChatMessage::new(ChatRole::Tool, "18 degrees and sunny")
        });
        assert!(validate(&r).is_ok());
        let a = sim_answer(&r).unwrap();
        assert!(a.tool_calls.is_empty());
        assert_eq!(a.finish_reason.as_deref(), Some("stop"));
        assert!(a.content.contains("18 degrees and sunny"), "{}", a.content);
        assert!(a.content.contains("get_weather"));
    }

    #[test]
    fn openai_tool_wire_forms() {
        let mut r = req_with_tools();
        r.tool_choice = ToolChoice::Named("get_weather".into());
        r.messages.push(ChatMessage {
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }],
            ..ChatMessage::new(ChatRole::Assistant, "")
        });
        r.messages.push(ChatMessage {
            tool_call_id: Some("call_1".into()),
            ..ChatMessage::new(ChatRole::Tool, "sunny")
        });
        let mut body = Map::new();
        openai_tools(&r, &mut body);
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(
            body["tools"][0]["function"]["parameters"]["required"][0],
            "city"
        );
        assert_eq!(body["tool_choice"]["function"]["name"], "get_weather");
        let m = openai_messages(&r.messages);
        assert_eq!(
            m[1]["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(m[1]["tool_calls"][0]["type"], "function");
        assert_eq!(
            (m[2]["role"].as_str(), m[2]["tool_call_id"].as_str()),
            (Some("tool"), Some("call_1"))
        );
        assert!(m[0].get("tool_calls").is_none() && m[0].get("tool_call_id").is_none());
        for (choice, want) in [
            (ToolChoice::Auto, json!("auto")),
            (ToolChoice::None, json!("none")),
            (ToolChoice::Required, json!("required")),
        ] {
            r.tool_choice = choice;
            let mut body = Map::new();
            openai_tools(&r, &mut body);
            assert_eq!(body["tool_choice"], want);
        }
        let calls = openai_tool_calls(&json!({"choices": [{"message": {"content": null,
            "tool_calls": [{"id": "c9", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}}]}))
        .unwrap();
        assert_eq!(
            calls,
            vec![ToolCall {
                id: "c9".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Oslo"}"#.into()
            }]
        );
        assert!(openai_tool_calls(&json!({"choices": [{"message": {"tool_calls": 3}}]})).is_err());
    }

    #[test]
    fn anthropic_tool_wire_forms() {
        let mut r = req_with_tools();
        r.tool_choice = ToolChoice::Required;
        r.messages.push(ChatMessage {
            tool_calls: vec![ToolCall {
                id: "toolu_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }],
            ..ChatMessage::new(ChatRole::Assistant, "Let me look.")
        });
        r.messages.push(ChatMessage {
            tool_call_id: Some("toolu_1".into()),
            ..ChatMessage::new(ChatRole::Tool, "sunny")
        });
        let mut body = Map::new();
        anthropic_tools(&r, &mut body);
        assert_eq!(body["tools"][0]["input_schema"]["required"][0], "city");
        assert_eq!(body["tool_choice"], json!({"type": "any"}));
        let m = anthropic_messages(&r.messages);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1]["content"][1]["type"], "tool_use");
        assert_eq!(m[1]["content"][1]["input"]["city"], "Paris");
        assert_eq!(m[2]["role"], "user");
        assert_eq!(m[2]["content"][0]["type"], "tool_result");
        assert_eq!(m[2]["content"][0]["tool_use_id"], "toolu_1");
        r.tool_choice = ToolChoice::Named("get_weather".into());
        let mut body = Map::new();
        anthropic_tools(&r, &mut body);
        assert_eq!(
            body["tool_choice"],
            json!({"type": "tool", "name": "get_weather"})
        );
        r.tool_choice = ToolChoice::None;
        let mut body = Map::new();
        anthropic_tools(&r, &mut body);
        assert!(body.is_empty(), "`none` leaves the tools out");
        let calls = anthropic_tool_calls(&[
            json!({"type": "text", "text": "ok"}),
            json!({"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}),
        ]);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].arguments, r#"{"city":"Rome"}"#);
    }

    fn sim_hub() -> crate::models::ModelHub {
        use crate::spec::{CallPolicy, ModelKind, ModelSpec, Price, ProviderSpec, SimSpec};
        let spec = ModelSpec {
            name: "m".into(),
            upstream: "m".into(),
            provider: ProviderSpec::Sim(SimSpec::default()),
            price: Price::FREE,
            policy: CallPolicy {
                timeout: std::time::Duration::from_secs(5),
                idle_timeout: std::time::Duration::from_secs(5),
                retries: 0,
                backoff: std::time::Duration::from_millis(1),
                max_backoff: std::time::Duration::from_millis(1),
                fallback: vec![],
            },
            breaker: None,
            rate_limit: None,
            kind: ModelKind::Chat,
            dimensions: None,
        };
        let models = std::collections::BTreeMap::from([("m".to_string(), spec)]);
        crate::models::ModelHub::build(&models, |_| None).unwrap()
    }

    #[tokio::test]
    async fn hub_refuses_invalid_tools_before_sending() {
        let hub = sim_hub();
        let ledger = crate::models::Ledger::new();
        let granted = vec!["m".to_string()];
        let caller = crate::models::Caller::new("w", &granted, &ledger);
        let mut r = req_with_tools();
        r.tools[0].parameters = json!([]);
        let err = hub.complete(caller, r).await.unwrap_err();
        assert!(
            matches!(&err, ModelError::InvalidRequest(m) if m.contains("`tools[0].parameters`")),
            "{err:?}"
        );
        let entries = ledger.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].outcome,
            crate::models::CallOutcome::InvalidRequest
        );
        assert_eq!(entries[0].input_tokens, 0, "nothing sent");
    }

    #[tokio::test]
    async fn hub_round_trip_with_sim_tools() {
        let hub = sim_hub();
        let ledger = crate::models::Ledger::new();
        let granted = vec!["m".to_string()];
        let caller = crate::models::Caller::new("w", &granted, &ledger);
        let mut r = req_with_tools();
        let first = hub.complete(caller, r.clone()).await.unwrap();
        assert_eq!(first.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            ledger.entries()[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
        let call = first.tool_calls[0].clone();
        r.messages.push(ChatMessage {
            tool_calls: vec![call.clone()],
            ..ChatMessage::new(ChatRole::Assistant, first.content)
        });
        r.messages.push(ChatMessage {
            tool_call_id: Some(call.id),
            ..ChatMessage::new(ChatRole::Tool, r#"{"temp_c":18}"#)
        });
        let second = hub.complete(caller, r).await.unwrap();
        assert!(second.tool_calls.is_empty());
        assert!(
            second.content.contains(r#"{"temp_c":18}"#),
            "{}",
            second.content
        );
    }
}
