//! What a recorded answer says, in a reader's terms: the assistant's text (a stream's
//! frames joined), its tool calls, why it stopped, its token usage, its embeddings.
//!
//! Read from the shapes of the APIs the recorder meets, as JSON bodies and as streams:
//! OpenAI chat completions, completions and embeddings (JSON and SSE), the Responses
//! API (JSON and SSE), Anthropic Messages (JSON and SSE), Ollama chat, generate and
//! embed (JSON and NDJSON), model lists. An answer of another shape is
//! [`Api::Other`]: it has a status and frames, and [`crate::compare`] compares it as
//! JSON.
//!
//! ```
//! use recorder_runtime::answer::{Answer, Api};
//! use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
//! use recorder_runtime::stream::{Frame, StreamFormat};
//! use serde_json::json;
//! let frame = |v| Frame { data: Some(v), ..Frame::default() };
//! let rec = Recording {
//!     test_id: Some("t".into()),
//!     request: RecordedRequest { method: "POST".into(), endpoint: "/v1/chat/completions".into(), model: None, body: json!({}) },
//!     response: RecordedResponse::streamed(200, StreamFormat::Sse, vec![
//!         frame(json!({"choices": [{"index": 0, "delta": {"content": "Hello"}}]})),
//!         frame(json!({"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]})),
//!         frame(json!("[DONE]")),
//!     ]),
//! };
//! let answer = Answer::of(&rec);
//! assert_eq!(answer.api, Api::ChatCompletions);
//! assert_eq!(answer.text, "Hello there");
//! assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
//! assert_eq!(answer.frames, Some(3));
//! ```

use crate::recording::Recording;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The API an answer was recognised as, from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    /// OpenAI `/v1/chat/completions` (and every server compatible with it).
    ChatCompletions,
    /// OpenAI `/v1/completions`.
    Completions,
    /// OpenAI `/v1/embeddings`.
    Embeddings,
    /// OpenAI's Responses API, `/v1/responses`.
    Responses,
    /// Anthropic's Messages API, `/v1/messages`.
    Messages,
    /// Ollama's `/api/chat` and `/api/generate`.
    Ollama,
    /// Ollama's `/api/embed` and `/api/embeddings`.
    OllamaEmbed,
    /// A model list (`/v1/models`, `/api/tags`).
    ModelList,
    /// Anything else: compared as JSON.
    #[default]
    Other,
}

impl Api {
    /// A short name for people: `chat`, `responses`, `messages`, ...
    pub fn name(self) -> &'static str {
        match self {
            Api::ChatCompletions => "chat",
            Api::Completions => "completion",
            Api::Embeddings => "embeddings",
            Api::Responses => "responses",
            Api::Messages => "messages",
            Api::Ollama => "ollama",
            Api::OllamaEmbed => "ollama embeddings",
            Api::ModelList => "model list",
            Api::Other => "other",
        }
    }
}

/// A tool (function) call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// Its arguments as the model wrote them: compact JSON when they are JSON.
    pub arguments: String,
}

impl ToolCall {
    fn new(name: &str, arguments: &str) -> Self {
        let arguments = match serde_json::from_str::<Value>(arguments) {
            Ok(v) => v.to_string(),
            Err(_) => arguments.to_owned(),
        };
        ToolCall {
            name: name.to_owned(),
            arguments,
        }
    }

    /// The same call: the same name, and the same arguments (as JSON, key order aside).
    ///
    /// ```
    /// use recorder_runtime::answer::ToolCall;
    /// let a = ToolCall { name: "f".into(), arguments: r#"{"a":1,"b":2}"#.into() };
    /// let b = ToolCall { name: "f".into(), arguments: r#"{"b":2,"a":1}"#.into() };
    /// assert!(a.same_as(&b));
    /// ```
    pub fn same_as(&self, other: &ToolCall) -> bool {
        if self.name != other.name {
            return false;
        }
        match (
            serde_json::from_str::<Value>(&self.arguments),
            serde_json::from_str::<Value>(&other.arguments),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => self.arguments == other.arguments,
        }
    }
}

/// What one recorded answer says. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// The API recognised from the answer's shape.
    pub api: Api,
    /// The HTTP status.
    pub status: u16,
    /// The model that answered, as the answer names it.
    pub model: Option<String>,
    /// The assistant's text, a stream's pieces joined; choices or content blocks after
    /// the first are separated by a blank line. Empty when there is none.
    pub text: String,
    /// The tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped (`stop`, `length`, `tool_calls`, `end_turn`, ...; for
    /// the Responses API its status, with the reason when incomplete).
    pub finish_reason: Option<String>,
    /// Token counts by their API's names (`prompt_tokens`, `output_tokens`,
    /// `eval_count`, ...), in the order the answer gives them.
    pub usage: Vec<(String, u64)>,
    /// The embedding vectors, in order.
    pub embeddings: Vec<Vec<f64>>,
    /// The model ids of a model list, in order.
    pub models: Vec<String>,
    /// The error message of an error answer.
    pub error: Option<String>,
    /// How many frames a streamed answer has; `None` for a plain one.
    pub frames: Option<usize>,
}

impl Answer {
    /// Reads a recording's answer. Never fails: what is not understood is left out.
    pub fn of(rec: &Recording) -> Answer {
        let resp = &rec.response;
        let frames = resp.stream.iter().flat_map(|s| &s.frames);
        let mut answer = Answer::of_values(
            resp.body
                .iter()
                .chain(frames.filter_map(|f| f.data.as_ref())),
        );
        answer.status = resp.status;
        answer.frames = resp.stream.as_ref().map(|s| s.frames.len());
        if answer.error.is_none() && resp.status >= 400 {
            // FastAPI-style servers (vLLM, OGX) say `detail`, others `message`.
            let said = |key| {
                let v = resp.body.as_ref()?.get(key)?;
                Some(v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            };
            answer.error = said("detail")
                .or_else(|| said("message"))
                .or_else(|| resp.body_text.clone());
        }
        answer
    }

    /// What an answer says from its JSON alone: a whole body, or a stream's frames in
    /// order (an answer on its way, before it is a recording). Status and frame count
    /// are left unset.
    ///
    /// ```
    /// use recorder_runtime::answer::Answer;
    /// use serde_json::json;
    /// let body = json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}});
    /// assert_eq!(Answer::of_values([&body]).tokens(), Some(10));
    /// ```
    pub fn of_values<'a>(values: impl IntoIterator<Item = &'a Value>) -> Answer {
        let mut reader = Reader::default();
        for v in values {
            reader.absorb(v);
        }
        reader.finish()
    }

    /// The tokens the answer's usage counts: its `total_tokens` when it gives one
    /// (OpenAI, the Responses API), else its input and output counts added up
    /// (Anthropic's `input_tokens` + `output_tokens` and its cache reads and writes,
    /// Ollama's `prompt_eval_count` + `eval_count`); `None` when it reports no usage
    /// (an OpenAI stream asked without `stream_options.include_usage`, a tool server).
    ///
    /// ```
    /// use recorder_runtime::answer::Answer;
    /// use serde_json::json;
    /// let ollama = json!({"done": true, "prompt_eval_count": 12, "eval_count": 30});
    /// assert_eq!(Answer::of_values([&ollama]).tokens(), Some(42));
    /// assert_eq!(Answer::of_values([&json!({"choices": []})]).tokens(), None);
    /// ```
    pub fn tokens(&self) -> Option<u64> {
        let count = |key: &str| self.usage.iter().find(|(k, _)| k == key).map(|(_, n)| *n);
        if let Some(total) = count("total_tokens") {
            return Some(total);
        }
        const PARTS: [&str; 8] = [
            "prompt_tokens",
            "completion_tokens",
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "prompt_eval_count",
            "eval_count",
        ];
        PARTS
            .iter()
            .filter_map(|k| count(k))
            .reduce(|a, b| a.saturating_add(b))
    }
}

/// A tool call being put together from stream pieces.
#[derive(Debug, Default)]
struct ToolAcc {
    name: String,
    arguments: String,
    /// Arguments given whole (an object), used when no pieces came.
    whole: Option<String>,
}

/// Accumulates an answer from its JSON body or its frames, whatever the API.
#[derive(Debug, Default)]
struct Reader {
    api: Option<Api>,
    model: Option<String>,
    /// Text by (choice or content block) index.
    texts: BTreeMap<u64, String>,
    /// Tool calls by (choice or block index, call index).
    tools: BTreeMap<(u64, u64), ToolAcc>,
    finish: Option<String>,
    usage: Vec<(String, u64)>,
    embeddings: Vec<Vec<f64>>,
    models: Vec<String>,
    error: Option<String>,
    /// A Responses API answer whole (a JSON body, or a stream's final event): it
    /// replaces what the stream's deltas said.
    response: Option<Box<Reader>>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn index_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Tool arguments given as a JSON value (Anthropic's `input`, Ollama's `arguments`)
/// or as text (OpenAI's `arguments`).
fn arguments_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl Reader {
    fn set_api(&mut self, api: Api) {
        self.api.get_or_insert(api);
    }

    fn text(&mut self, index: u64, piece: &str) {
        self.texts.entry(index).or_default().push_str(piece);
    }

    fn usage(&mut self, usage: &Map<String, Value>) {
        for (k, v) in usage {
            if let Some(n) = v.as_u64() {
                self.count(k, n);
            }
        }
    }

    fn count(&mut self, key: &str, n: u64) {
        match self.usage.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = n,
            None => self.usage.push((key.to_owned(), n)),
        }
    }

    fn absorb(&mut self, v: &Value) {
        let Some(obj) = v.as_object() else {
            return;
        };
        if let Some(e) = obj.get("error").filter(|e| !e.is_null()) {
            let message = str_of(e, "message")
                .map(str::to_owned)
                .or_else(|| e.as_str().map(str::to_owned))
                .unwrap_or_else(|| e.to_string());
            self.error = Some(message);
        }
        if let Some(m) = str_of(v, "model") {
            self.model = Some(m.to_owned());
        }
        if let Some(u) = obj.get("usage").and_then(Value::as_object) {
            self.usage(u);
        }
        let kind = str_of(v, "type").unwrap_or("");
        let object = str_of(v, "object").unwrap_or("");
        if let Some(choices) = obj.get("choices").and_then(Value::as_array) {
            self.choices(choices);
        } else if object == "response" {
            self.responses_whole(v);
        } else if kind.starts_with("response.") {
            self.responses_event(kind, v);
        } else if kind == "message" && obj.contains_key("content") {
            self.messages_whole(v);
        } else if kind.starts_with("message_") || kind.starts_with("content_block_") {
            self.messages_event(kind, v);
        } else if let Some(data) = obj.get("data").and_then(Value::as_array) {
            self.list(data);
        } else if obj.contains_key("done") || obj.contains_key("embeddings") {
            self.ollama(v);
        } else if let Some(models) = obj.get("models").and_then(Value::as_array) {
            self.set_api(Api::ModelList);
            self.models.extend(
                models
                    .iter()
                    .filter_map(|m| str_of(m, "name"))
                    .map(str::to_owned),
            );
        } else if let Some(e) = obj.get("embedding").and_then(Value::as_array) {
            self.set_api(Api::OllamaEmbed);
            self.embeddings
                .push(e.iter().filter_map(Value::as_f64).collect());
        }
    }

    /// OpenAI chat completions and completions, whole or streamed.
    fn choices(&mut self, choices: &[Value]) {
        for c in choices {
            let i = index_of(c, "index");
            let message = c.get("message").or_else(|| c.get("delta"));
            if let Some(m) = message {
                self.set_api(Api::ChatCompletions);
                match m.get("content") {
                    Some(Value::String(s)) => self.text(i, s),
                    Some(Value::Array(parts)) => {
                        for p in parts {
                            if let Some(t) = str_of(p, "text") {
                                self.text(i, t);
                            }
                        }
                    }
                    _ => {}
                }
                if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
                    for (n, call) in calls.iter().enumerate() {
                        let at = call
                            .get("index")
                            .and_then(Value::as_u64)
                            .unwrap_or(n as u64);
                        let acc = self.tools.entry((i, at)).or_default();
                        let f = call.get("function").unwrap_or(call);
                        if let Some(name) = str_of(f, "name").filter(|n| !n.is_empty()) {
                            acc.name = name.to_owned();
                        }
                        acc.arguments.push_str(&arguments_text(f.get("arguments")));
                    }
                }
                if let Some(f) = m.get("function_call").filter(|f| f.is_object()) {
                    let acc = self.tools.entry((i, 0)).or_default();
                    if let Some(name) = str_of(f, "name").filter(|n| !n.is_empty()) {
                        acc.name = name.to_owned();
                    }
                    acc.arguments.push_str(&arguments_text(f.get("arguments")));
                }
            } else if let Some(t) = str_of(c, "text") {
                self.set_api(Api::Completions);
                self.text(i, t);
            }
            if let Some(reason) = str_of(c, "finish_reason") {
                self.finish = Some(reason.to_owned());
            }
        }
    }

    /// A Responses API response object (a body, or the `response` of a stream event).
    fn responses_whole(&mut self, r: &Value) {
        let mut whole = Reader {
            api: Some(Api::Responses),
            model: str_of(r, "model").map(str::to_owned),
            ..Reader::default()
        };
        if let Some(u) = r.get("usage").and_then(Value::as_object) {
            whole.usage(u);
        }
        for (n, item) in r
            .get("output")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            whole.responses_item(n as u64, item);
        }
        if let Some(status) = str_of(r, "status") {
            let reason = r
                .get("incomplete_details")
                .and_then(|d| str_of(d, "reason"));
            whole.finish = Some(match reason {
                Some(reason) => format!("{status}: {reason}"),
                None => status.to_owned(),
            });
        }
        if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
            whole.error = str_of(e, "message").map(str::to_owned);
        }
        self.set_api(Api::Responses);
        self.response = Some(Box::new(whole));
    }

    /// One output item of a Responses API answer.
    fn responses_item(&mut self, n: u64, item: &Value) {
        match str_of(item, "type").unwrap_or("") {
            "message" => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = str_of(part, "text").or_else(|| str_of(part, "refusal")) {
                        self.text(0, t);
                    }
                }
            }
            "function_call" | "custom_tool_call" | "mcp_call" => {
                let acc = self.tools.entry((0, n)).or_default();
                acc.name = str_of(item, "name").unwrap_or_default().to_owned();
                acc.arguments = arguments_text(item.get("arguments").or_else(|| item.get("input")));
            }
            _ => {}
        }
    }

    /// A Responses API stream event.
    fn responses_event(&mut self, kind: &str, v: &Value) {
        self.set_api(Api::Responses);
        match kind {
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(d) = str_of(v, "delta") {
                    self.text(0, d);
                }
            }
            "response.output_item.done" => {
                if let Some(item) = v
                    .get("item")
                    .filter(|i| str_of(i, "type") != Some("message"))
                {
                    self.responses_item(index_of(v, "output_index"), item);
                }
            }
            _ => {
                if let Some(r) = v.get("response").filter(|r| r.is_object()) {
                    // created / in_progress carry an empty response; the last one
                    // (completed, incomplete, failed) is the whole answer.
                    if matches!(
                        kind,
                        "response.completed" | "response.incomplete" | "response.failed"
                    ) {
                        self.responses_whole(r);
                    } else if let Some(m) = str_of(r, "model") {
                        self.model = Some(m.to_owned());
                    }
                }
            }
        }
    }

    /// An Anthropic Messages answer, whole.
    fn messages_whole(&mut self, m: &Value) {
        self.set_api(Api::Messages);
        for (n, block) in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.messages_block(n as u64, block);
        }
        if let Some(reason) = str_of(m, "stop_reason") {
            self.finish = Some(reason.to_owned());
        }
    }

    fn messages_block(&mut self, n: u64, block: &Value) {
        match str_of(block, "type").unwrap_or("") {
            "text" => self.text(n, str_of(block, "text").unwrap_or_default()),
            "tool_use" | "server_tool_use" => {
                let acc = self.tools.entry((n, 0)).or_default();
                acc.name = str_of(block, "name").unwrap_or_default().to_owned();
                acc.whole = Some(arguments_text(block.get("input")));
            }
            _ => {}
        }
    }

    /// An Anthropic Messages stream event.
    fn messages_event(&mut self, kind: &str, v: &Value) {
        self.set_api(Api::Messages);
        let n = index_of(v, "index");
        match kind {
            "message_start" => {
                if let Some(m) = v.get("message") {
                    if let Some(model) = str_of(m, "model") {
                        self.model = Some(model.to_owned());
                    }
                    if let Some(u) = m.get("usage").and_then(Value::as_object) {
                        self.usage(u);
                    }
                }
            }
            "content_block_start" => {
                if let Some(block) = v.get("content_block") {
                    self.messages_block(n, block);
                }
            }
            "content_block_delta" => {
                let Some(d) = v.get("delta") else { return };
                match str_of(d, "type").unwrap_or("") {
                    "text_delta" => self.text(n, str_of(d, "text").unwrap_or_default()),
                    "input_json_delta" => {
                        let piece = str_of(d, "partial_json").unwrap_or_default();
                        self.tools
                            .entry((n, 0))
                            .or_default()
                            .arguments
                            .push_str(piece);
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = v.get("delta").and_then(|d| str_of(d, "stop_reason")) {
                    self.finish = Some(reason.to_owned());
                }
            }
            _ => {}
        }
    }

    /// A `data` list: embeddings or a model list.
    fn list(&mut self, data: &[Value]) {
        for item in data {
            if let Some(e) = item.get("embedding").and_then(Value::as_array) {
                self.set_api(Api::Embeddings);
                self.embeddings
                    .push(e.iter().filter_map(Value::as_f64).collect());
            } else if let Some(id) = str_of(item, "id") {
                self.set_api(Api::ModelList);
                self.models.push(id.to_owned());
            }
        }
    }

    /// Ollama chat, generate and embed, whole or one NDJSON line.
    fn ollama(&mut self, v: &Value) {
        if let Some(es) = v.get("embeddings").and_then(Value::as_array) {
            self.set_api(Api::OllamaEmbed);
            for e in es.iter().filter_map(Value::as_array) {
                self.embeddings
                    .push(e.iter().filter_map(Value::as_f64).collect());
            }
        } else {
            self.set_api(Api::Ollama);
        }
        if let Some(m) = v.get("message") {
            if let Some(t) = str_of(m, "content") {
                self.text(0, t);
            }
            for call in m
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let f = call.get("function").unwrap_or(call);
                let at = self.tools.len() as u64;
                let acc = self.tools.entry((0, at)).or_default();
                acc.name = str_of(f, "name").unwrap_or_default().to_owned();
                acc.whole = Some(arguments_text(f.get("arguments")));
            }
        }
        if let Some(t) = str_of(v, "response") {
            self.text(0, t);
        }
        if let Some(reason) = str_of(v, "done_reason") {
            self.finish = Some(reason.to_owned());
        }
        for key in ["prompt_eval_count", "eval_count"] {
            if let Some(n) = v.get(key).and_then(Value::as_u64) {
                self.count(key, n);
            }
        }
    }

    fn finish(self) -> Answer {
        if let Some(whole) = self.response {
            // A Responses answer whole says everything its stream's deltas said.
            let mut answer = whole.finish();
            if answer.usage.is_empty() {
                answer.usage = self.usage;
            }
            answer.error = answer.error.or(self.error);
            return answer;
        }
        let text = self
            .texts
            .into_values()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        let tool_calls = self
            .tools
            .into_values()
            .map(|t| {
                let args = if t.arguments.is_empty() {
                    t.whole.unwrap_or_default()
                } else {
                    t.arguments
                };
                ToolCall::new(&t.name, &args)
            })
            .collect();
        Answer {
            api: self.api.unwrap_or_default(),
            status: 0,
            model: self.model,
            text,
            tool_calls,
            finish_reason: self.finish,
            usage: self.usage,
            embeddings: self.embeddings,
            models: self.models,
            error: self.error,
            frames: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{RecordedRequest, RecordedResponse};
    use crate::stream::{Frame, StreamFormat};
    use serde_json::json;

    fn rec(endpoint: &str, response: RecordedResponse) -> Recording {
        Recording {
            test_id: Some("t".into()),
            request: RecordedRequest {
                method: "POST".into(),
                endpoint: endpoint.into(),
                model: None,
                body: json!({}),
            },
            response,
        }
    }

    fn body(v: Value) -> RecordedResponse {
        RecordedResponse::plain(200, Some("application/json"), v.to_string().as_bytes())
    }

    fn stream(format: StreamFormat, frames: Vec<Value>) -> RecordedResponse {
        let frames = frames
            .into_iter()
            .map(|v| Frame {
                data: Some(v),
                ..Frame::default()
            })
            .collect();
        RecordedResponse::streamed(200, format, frames)
    }

    #[test]
    fn chat_completion_whole_with_tool_calls_and_usage() {
        let a = Answer::of(&rec(
            "/v1/chat/completions",
            body(
                json!({"model": "gpt-x", "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "prompt_tokens_details": {"cached_tokens": 0}}}),
            ),
        ));
        assert_eq!(a.api, Api::ChatCompletions);
        assert_eq!(a.model.as_deref(), Some("gpt-x"));
        assert_eq!(a.text, "");
        assert_eq!(
            a.tool_calls,
            [ToolCall {
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            }]
        );
        assert_eq!(a.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            a.usage,
            [
                ("prompt_tokens".to_owned(), 10),
                ("completion_tokens".to_owned(), 5),
                ("total_tokens".to_owned(), 15)
            ]
        );
        assert_eq!(a.frames, None);
    }

    #[test]
    fn chat_stream_tool_call_pieces_are_joined() {
        let a = Answer::of(&rec(
            "/v1/chat/completions",
            stream(
                StreamFormat::Sse,
                vec![
                    json!({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}]}}]}),
                    json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}}]}),
                    json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}, "finish_reason": "tool_calls"}]}),
                    json!({"choices": [], "usage": {"completion_tokens": 3}}),
                    json!("[DONE]"),
                ],
            ),
        ));
        assert_eq!(a.tool_calls, [ToolCall::new("f", r#"{"a":1}"#)]);
        assert_eq!(a.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(a.usage, [("completion_tokens".to_owned(), 3)]);
        assert_eq!(a.frames, Some(5));
    }

    #[test]
    fn completions_and_embeddings() {
        let a = Answer::of(&rec(
            "/v1/completions",
            body(
                json!({"object": "text_completion", "choices": [{"index": 0, "text": "4", "finish_reason": "length"}]}),
            ),
        ));
        assert_eq!((a.api, a.text.as_str()), (Api::Completions, "4"));
        let a = Answer::of(&rec(
            "/v1/embeddings",
            body(
                json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
                "usage": {"prompt_tokens": 2, "total_tokens": 2}}),
            ),
        ));
        assert_eq!(a.api, Api::Embeddings);
        assert_eq!(a.embeddings, [vec![0.5, -0.25]]);
    }

    #[test]
    fn responses_stream_takes_the_final_response() {
        let done = json!({"object": "response", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
            "model": "m", "output": [
                {"type": "message", "content": [{"type": "output_text", "text": "Hi there"}]},
                {"type": "function_call", "name": "lookup", "arguments": "{\"q\":\"x\"}"}],
            "usage": {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6}});
        let a = Answer::of(&rec(
            "/v1/responses",
            stream(
                StreamFormat::Sse,
                vec![
                    json!({"type": "response.created", "response": {"object": "response", "status": "in_progress", "output": []}}),
                    json!({"type": "response.output_text.delta", "delta": "Hi"}),
                    json!({"type": "response.output_text.delta", "delta": " there"}),
                    json!({"type": "response.incomplete", "response": done}),
                ],
            ),
        ));
        assert_eq!(a.api, Api::Responses);
        assert_eq!(a.text, "Hi there");
        assert_eq!(a.tool_calls, [ToolCall::new("lookup", r#"{"q":"x"}"#)]);
        assert_eq!(
            a.finish_reason.as_deref(),
            Some("incomplete: max_output_tokens")
        );
        assert_eq!(a.usage.len(), 3);
        assert_eq!(a.tokens(), Some(6));
        // Cut short before its last event: the deltas say what there is.
        let a = Answer::of(&rec(
            "/v1/responses",
            stream(
                StreamFormat::Sse,
                vec![json!({"type": "response.output_text.delta", "delta": "Hi"})],
            ),
        ));
        assert_eq!(a.text, "Hi");
    }

    #[test]
    fn anthropic_messages_whole_and_streamed() {
        let a = Answer::of(&rec(
            "/v1/messages",
            body(
                json!({"type": "message", "role": "assistant", "model": "claude", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "rust"}}],
                "stop_reason": "tool_use", "usage": {"input_tokens": 9, "output_tokens": 4}}),
            ),
        ));
        assert_eq!(a.api, Api::Messages);
        assert_eq!(a.text, "Let me look.");
        assert_eq!(a.tool_calls, [ToolCall::new("search", r#"{"q":"rust"}"#)]);
        assert_eq!(a.finish_reason.as_deref(), Some("tool_use"));
        let a = Answer::of(&rec(
            "/v1/messages",
            stream(
                StreamFormat::Sse,
                vec![
                    json!({"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 9, "output_tokens": 0}}}),
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "One"}}),
                    json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "name": "search", "input": {}}}),
                    json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"q\": "}}),
                    json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"rust\"}"}}),
                    json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
                    json!({"type": "message_stop"}),
                ],
            ),
        ));
        assert_eq!(a.text, "One");
        assert_eq!(a.tool_calls, [ToolCall::new("search", r#"{"q":"rust"}"#)]);
        assert_eq!(a.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            a.usage,
            [
                ("input_tokens".to_owned(), 9),
                ("output_tokens".to_owned(), 7)
            ]
        );
        assert_eq!(a.tokens(), Some(16), "input plus the last output count");
    }

    #[test]
    fn ollama_chat_stream_generate_and_embed() {
        let a = Answer::of(&rec(
            "/api/chat",
            stream(
                StreamFormat::Ndjson,
                vec![
                    json!({"model": "llama", "message": {"role": "assistant", "content": "Bon"}, "done": false}),
                    json!({"model": "llama", "message": {"role": "assistant", "content": "jour", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]}, "done": false}),
                    json!({"model": "llama", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 3}),
                ],
            ),
        ));
        assert_eq!(a.api, Api::Ollama);
        assert_eq!(a.text, "Bonjour");
        assert_eq!(a.tool_calls, [ToolCall::new("f", r#"{"x":1}"#)]);
        assert_eq!(a.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            a.usage,
            [
                ("prompt_eval_count".to_owned(), 12),
                ("eval_count".to_owned(), 3)
            ]
        );
        assert_eq!(a.tokens(), Some(15));
        let a = Answer::of(&rec(
            "/api/generate",
            body(
                json!({"model": "llama", "response": "42", "done": true, "done_reason": "length"}),
            ),
        ));
        assert_eq!(
            (a.text.as_str(), a.finish_reason.as_deref()),
            ("42", Some("length"))
        );
        let a = Answer::of(&rec(
            "/api/embed",
            body(json!({"model": "e", "embeddings": [[0.1, 0.2], [0.3, 0.4]]})),
        ));
        assert_eq!(a.api, Api::OllamaEmbed);
        assert_eq!(a.embeddings.len(), 2);
    }

    #[test]
    fn errors_model_lists_and_other_shapes() {
        let mut r =
            body(json!({"error": {"message": "model not found", "type": "invalid_request_error"}}));
        r.status = 404;
        let a = Answer::of(&rec("/v1/chat/completions", r));
        assert_eq!(
            (a.status, a.error.as_deref()),
            (404, Some("model not found"))
        );
        let a = Answer::of(&rec(
            "/v1/models",
            body(json!({"object": "list", "data": [{"id": "a"}, {"id": "b"}]})),
        ));
        assert_eq!((a.api, a.models.len()), (Api::ModelList, 2));
        let mut r = body(json!({"detail": "Response 'resp_x' not found."}));
        r.status = 404;
        let a = Answer::of(&rec("/v1/responses/resp_x", r));
        assert_eq!(a.error.as_deref(), Some("Response 'resp_x' not found."));
        let a = Answer::of(&rec("/v1/rerank", body(json!({"results": [{"index": 0}]}))));
        assert_eq!(a.api, Api::Other);
        let a = Answer::of(&rec(
            "/x",
            RecordedResponse::plain(502, Some("text/plain"), b"bad gateway"),
        ));
        assert_eq!(a.error.as_deref(), Some("bad gateway"));
    }
}
