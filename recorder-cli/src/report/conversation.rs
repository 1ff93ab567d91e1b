//! The conversation a recorded request sends: system, user, assistant and tool
//! messages, read from the shapes of OpenAI chat and completions, the Responses API,
//! Anthropic Messages, Ollama chat and generate, Gemini `contents` and embedding
//! inputs. A request of another shape is one message holding its JSON body.
//!
//! ```
//! use recorder_cli::report::conversation::{messages, Part};
//! use serde_json::json;
//! let body = json!({"system": "Be brief.", "messages": [
//!     {"role": "user", "content": [{"type": "text", "text": "What is this?"},
//!         {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}]}]});
//! let m = messages(&body);
//! assert_eq!((m[0].role.as_str(), m[1].role.as_str()), ("system", "user"));
//! assert_eq!(m[1].parts[1], Part::Image("https://example.com/cat.png".into()));
//! ```

use serde_json::Value;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, `input` (embeddings) or `request` (a
    /// body of no known shape).
    pub role: String,
    /// What it holds, in order.
    pub parts: Vec<Part>,
}

/// A piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image: a `data:` URL, or a remote URL (never loaded by the report).
    Image(String),
    /// A tool call the assistant made: name and arguments.
    ToolCall {
        /// The tool.
        name: String,
        /// Its arguments, as sent.
        arguments: String,
    },
    /// JSON of no known shape.
    Json(Value),
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(t) => t.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The image type of base64 data, from its first bytes (Ollama sends images bare).
fn sniff_base64_image(data: &str) -> Option<&'static str> {
    [
        ("iVBORw0KGgo", "image/png"),
        ("/9j/", "image/jpeg"),
        ("R0lGOD", "image/gif"),
        ("UklGR", "image/webp"),
    ]
    .into_iter()
    .find(|(prefix, _)| data.starts_with(prefix))
    .map(|(_, mime)| mime)
}

fn data_url(mime: &str, data: &str) -> String {
    format!("data:{mime};base64,{data}")
}

/// The parts of a message's `content`: a string, or a list of typed parts.
fn parts(content: &Value) -> Vec<Part> {
    match content {
        Value::String(t) => vec![Part::Text(t.clone())],
        Value::Array(items) => items.iter().flat_map(part).collect(),
        Value::Null => Vec::new(),
        other => vec![Part::Json(other.clone())],
    }
}

fn part(p: &Value) -> Vec<Part> {
    if let Value::String(t) = p {
        return vec![Part::Text(t.clone())];
    }
    match s(p, "type").unwrap_or("") {
        "text" | "input_text" | "output_text" => {
            vec![Part::Text(s(p, "text").unwrap_or_default().into())]
        }
        "image_url" => {
            let url = p
                .get("image_url")
                .map(|u| s(u, "url").map_or_else(|| text_of(u), str::to_owned))
                .unwrap_or_default();
            vec![Part::Image(url)]
        }
        "input_image" => vec![Part::Image(
            s(p, "image_url")
                .or_else(|| s(p, "file_id"))
                .unwrap_or_default()
                .into(),
        )],
        "image" => {
            let src = p.get("source").cloned().unwrap_or(Value::Null);
            match s(&src, "type") {
                Some("base64") => vec![Part::Image(data_url(
                    s(&src, "media_type").unwrap_or("application/octet-stream"),
                    s(&src, "data").unwrap_or_default(),
                ))],
                _ => vec![Part::Image(s(&src, "url").unwrap_or_default().into())],
            }
        }
        "tool_use" => vec![Part::ToolCall {
            name: s(p, "name").unwrap_or_default().into(),
            arguments: p.get("input").map(text_of).unwrap_or_default(),
        }],
        "tool_result" => parts(p.get("content").unwrap_or(&Value::Null)),
        _ if p.get("text").is_some_and(Value::is_string) => {
            vec![Part::Text(s(p, "text").unwrap_or_default().into())]
        }
        _ if p
            .get("inlineData")
            .or_else(|| p.get("inline_data"))
            .is_some() =>
        {
            let d = p
                .get("inlineData")
                .or_else(|| p.get("inline_data"))
                .expect("checked");
            vec![Part::Image(data_url(
                s(d, "mimeType")
                    .or_else(|| s(d, "mime_type"))
                    .unwrap_or_default(),
                s(d, "data").unwrap_or_default(),
            ))]
        }
        _ if p.get("functionCall").is_some() => {
            let f = &p["functionCall"];
            vec![Part::ToolCall {
                name: s(f, "name").unwrap_or_default().into(),
                arguments: f.get("args").map(text_of).unwrap_or_default(),
            }]
        }
        _ => vec![Part::Json(p.clone())],
    }
}

/// One chat-style message: OpenAI, Anthropic, Ollama (with `images`), Gemini (`parts`).
fn message(m: &Value) -> Message {
    let mut role = s(m, "role").unwrap_or("user").to_owned();
    if role == "model" {
        role = "assistant".into();
    }
    let mut out = parts(
        m.get("content")
            .or_else(|| m.get("parts"))
            .unwrap_or(&Value::Null),
    );
    for img in m
        .get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(data) = img.as_str() {
            out.push(Part::Image(match sniff_base64_image(data) {
                Some(mime) => data_url(mime, data),
                None => data.to_owned(),
            }));
        }
    }
    for call in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = call.get("function").unwrap_or(call);
        out.push(Part::ToolCall {
            name: s(f, "name").unwrap_or_default().into(),
            arguments: f.get("arguments").map(text_of).unwrap_or_default(),
        });
    }
    Message { role, parts: out }
}

/// A Responses API `input` item.
fn input_item(item: &Value) -> Message {
    match s(item, "type") {
        Some("function_call") => Message {
            role: "assistant".into(),
            parts: vec![Part::ToolCall {
                name: s(item, "name").unwrap_or_default().into(),
                arguments: item.get("arguments").map(text_of).unwrap_or_default(),
            }],
        },
        Some("function_call_output") => Message {
            role: "tool".into(),
            parts: vec![Part::Text(
                item.get("output").map(text_of).unwrap_or_default(),
            )],
        },
        Some("message") | None => message(item),
        Some(_) => Message {
            role: "input".into(),
            parts: vec![Part::Json(item.clone())],
        },
    }
}

/// The conversation a request body sends (see the [module documentation](self)).
pub fn messages(body: &Value) -> Vec<Message> {
    let mut out = Vec::new();
    let system = |v: &Value| Message {
        role: "system".into(),
        parts: parts(v),
    };
    if let Some(sys) = body.get("system").filter(|v| !v.is_null()) {
        out.push(system(sys));
    }
    if let Some(sys) = body.get("instructions").filter(|v| v.is_string()) {
        out.push(system(sys));
    }
    if let Some(sys) = body
        .get("systemInstruction")
        .or_else(|| body.get("system_instruction"))
    {
        out.push(system(sys.get("parts").unwrap_or(sys)));
    }
    let list = body
        .get("messages")
        .or_else(|| body.get("contents"))
        .and_then(Value::as_array);
    if let Some(list) = list {
        out.extend(list.iter().map(message));
    }
    let is_embedding = body.get("encoding_format").is_some()
        || body.get("dimensions").is_some()
        || body.get("messages").is_none()
            && body
                .get("input")
                .is_some_and(|i| i.as_array().is_some_and(|a| a.iter().all(Value::is_string)));
    match body.get("input") {
        Some(input) if is_embedding => {
            let inputs: Vec<&Value> = match input {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            out.extend(inputs.into_iter().map(|i| Message {
                role: "input".into(),
                parts: vec![Part::Text(text_of(i))],
            }));
        }
        Some(Value::String(t)) => out.push(Message {
            role: "user".into(),
            parts: vec![Part::Text(t.clone())],
        }),
        Some(Value::Array(items)) => out.extend(items.iter().map(input_item)),
        _ => {}
    }
    if let Some(prompt) = body.get("prompt") {
        let mut ps = match prompt {
            Value::Array(a) => a.iter().map(|p| Part::Text(text_of(p))).collect(),
            p => vec![Part::Text(text_of(p))],
        };
        for img in body
            .get("images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(data) = img.as_str() {
                ps.push(Part::Image(match sniff_base64_image(data) {
                    Some(mime) => data_url(mime, data),
                    None => data.to_owned(),
                }));
            }
        }
        out.push(Message {
            role: "user".into(),
            parts: ps,
        });
    }
    if out.is_empty() && !body.is_null() {
        out.push(Message {
            role: "request".into(),
            parts: vec![Part::Json(body.clone())],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_chat_with_images_tool_calls_and_results() {
        let body = json!({"messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "42"}]});
        let m = messages(&body);
        let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool"]);
        assert_eq!(
            m[1].parts[1],
            Part::Image("data:image/png;base64,iVBORw0KGgo=".into())
        );
        assert_eq!(
            m[2].parts,
            [Part::ToolCall {
                name: "f".into(),
                arguments: "{}".into()
            }]
        );
        assert_eq!(m[3].parts, [Part::Text("42".into())]);
    }

    #[test]
    fn responses_ollama_embeddings_and_unknown_bodies() {
        let m = messages(&json!({"instructions": "be kind", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}, {"type": "input_image", "image_url": "https://x/y.png"}]},
            {"type": "function_call_output", "call_id": "c", "output": "{\"t\":18}"}]}));
        let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "tool"]);
        assert_eq!(m[1].parts[1], Part::Image("https://x/y.png".into()));
        let m = messages(
            &json!({"model": "llava", "messages": [{"role": "user", "content": "what?", "images": ["iVBORw0KGgoAAA"]}]}),
        );
        assert_eq!(
            m[0].parts[1],
            Part::Image("data:image/png;base64,iVBORw0KGgoAAA".into())
        );
        let m = messages(&json!({"model": "e", "input": ["a", "b"]}));
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].role, "input");
        let m = messages(&json!({"model": "r", "query": "q", "documents": ["d"]}));
        assert_eq!(m[0].role, "request");
        assert!(matches!(m[0].parts[0], Part::Json(_)));
    }
}
