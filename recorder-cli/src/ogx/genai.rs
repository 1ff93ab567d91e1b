//! OGX's format for google-genai SDK calls: `client.models.generate_content(...)` and
//! `generate_content_stream(...)`, recorded as the SDK call's arguments and the SDK's
//! answer objects.
//!
//! ```text
//! { "test_id": null,
//!   "request":  { "method": "POST", "url": "vertexai:///generate_content_stream",
//!                 "endpoint": "/generate_content_stream",
//!                 "body": { "model": "publishers/google/models/gemini-2.0-flash",
//!                           "contents": [ {"role": "user", "parts": [{"text": "..."}]} ],
//!                           "config": { "system_instruction": "...", "tools": [...] } } },
//!   "response": { "body": [ {"sdk_http_response": {"headers": {...}}, "candidates": [...],
//!                            "usage_metadata": {...}, ...}, ... ],
//!                 "is_streaming": true } }
//! ```
//!
//! OGX recorded no Vertex project or location, so each call is imported as the exchange
//! the same SDK call makes on the Gemini API (the Gemini Developer API, which a
//! `genai.Client(api_key=...)` talks to):
//!
//! - `POST /v1beta/models/<m>:generateContent`, or
//!   `POST /v1beta/models/<m>:streamGenerateContent?alt=sse` for a stream, `<m>` being
//!   the last path segment of the recorded model (`gemini-2.0-flash`);
//! - the body is the SDK's: `contents` with each part's known fields in camelCase
//!   (`functionCall`, `functionResponse`, `inlineData`, `thoughtSignature`, ...), and
//!   `config` split as the SDK splits it ([`CONFIG_FIELDS`]): `systemInstruction` (a
//!   string becomes a user `Content`), `tools` (function declarations merged into one
//!   tool, last), `toolConfig`, `safetySettings`, `labels`, `cachedContent` at the top,
//!   everything else under `generationConfig` (present whenever `config` is not
//!   empty). Field names become camelCase one known field at a time, exactly where the
//!   SDK renames them: never inside function-call arguments, function responses, JSON
//!   schemas or the objects the SDK passes through as they are (a `thinking_config`
//!   stays `{"thinking_budget": 0}` on the wire, as the SDK sends it). A
//!   `response_schema` goes through the SDK's schema rules (types in capitals, a
//!   `property_ordering` for objects of several properties, `null` alternatives as
//!   `nullable`). SDK-only options (`http_options`, `automatic_function_calling`) are
//!   not sent.
//! - the answer is what the Gemini API sends: each SDK object back in camelCase
//!   (`finishReason`, `usageMetadata`, `modelVersion`; function-call arguments as they
//!   were), without the SDK's own `sdk_http_response`, `automatic_function_calling_history`
//!   and `parsed`; a stream as one `data:` event per chunk (the API sends no `[DONE]`).
//!
//! Tested against google-genai 3.6.1, whose default API version is `v1`: point the
//! client at `recordings serve` with `HttpOptions(base_url=..., api_version="v1beta")`.
//! A config field this importer does not know, or one the SDK refuses on the Gemini API
//! (Vertex-only fields), is a [`Skip`] naming it: a body guessed wrong would never be
//! matched.
//!
//! ```
//! use recorder_cli::ogx::{convert, Format};
//! use serde_json::json;
//! let c = convert(&json!({
//!     "test_id": null,
//!     "request": {"method": "POST", "url": "vertexai:///generate_content",
//!                 "body": {"model": "publishers/google/models/gemini-2.0-flash",
//!                          "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
//!                          "config": {"system_instruction": "Be brief.", "max_output_tokens": 100}}},
//!     "response": {"is_streaming": false, "body": {
//!         "sdk_http_response": {"headers": {}},
//!         "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "finish_reason": "STOP"}],
//!         "model_version": "gemini-2.0-flash"}}
//! })).unwrap();
//! assert_eq!(c.format, Format::GoogleGenai);
//! let req = &c.recording.request;
//! assert_eq!(req.endpoint, "/v1beta/models/gemini-2.0-flash:generateContent");
//! assert_eq!(req.body, json!({
//!     "contents": [{"parts": [{"text": "hi"}], "role": "user"}],
//!     "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"},
//!     "generationConfig": {"maxOutputTokens": 100}
//! }));
//! assert_eq!(c.recording.response.body, Some(json!({
//!     "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "finishReason": "STOP"}],
//!     "modelVersion": "gemini-2.0-flash"
//! })));
//! ```

use super::{error_response, is_exception, is_streaming, json_response, Kind, Skip};
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::stream::{Frame, StreamFormat};
use serde_json::{Map, Value};

/// The API version of the imported routes.
pub const API_VERSION: &str = "v1beta";

/// Where each known `config` field goes in the Gemini API's request body, as
/// google-genai's `_GenerateContentConfig_to_mldev` puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Under `generationConfig`, with this name, the value as the SDK sends it.
    Generation(&'static str),
    /// At the top of the body, with this name, the value as the SDK sends it.
    Top(&'static str),
    /// Rebuilt by the SDK's own rules (contents, tools, schemas, ...).
    Rebuilt,
    /// An option of the SDK itself, never sent.
    SdkOnly,
    /// Refused by the SDK on the Gemini API (a Vertex AI field).
    VertexOnly,
}

/// Every `GenerateContentConfig` field of google-genai 3.6.1 and where it goes.
pub const CONFIG_FIELDS: &[(&str, Place)] = &[
    ("http_options", Place::SdkOnly),
    ("should_return_http_response", Place::SdkOnly),
    ("automatic_function_calling", Place::SdkOnly),
    ("automatic_continuation", Place::SdkOnly),
    ("system_instruction", Place::Rebuilt),
    ("temperature", Place::Generation("temperature")),
    ("top_p", Place::Generation("topP")),
    ("top_k", Place::Generation("topK")),
    ("candidate_count", Place::Generation("candidateCount")),
    ("max_output_tokens", Place::Generation("maxOutputTokens")),
    ("stop_sequences", Place::Generation("stopSequences")),
    ("response_logprobs", Place::Generation("responseLogprobs")),
    ("logprobs", Place::Generation("logprobs")),
    ("presence_penalty", Place::Generation("presencePenalty")),
    ("frequency_penalty", Place::Generation("frequencyPenalty")),
    ("seed", Place::Generation("seed")),
    ("response_mime_type", Place::Generation("responseMimeType")),
    ("response_schema", Place::Rebuilt),
    (
        "response_json_schema",
        Place::Generation("responseJsonSchema"),
    ),
    ("routing_config", Place::VertexOnly),
    ("model_selection_config", Place::VertexOnly),
    ("safety_settings", Place::Rebuilt),
    ("tools", Place::Rebuilt),
    ("tool_config", Place::Rebuilt),
    ("labels", Place::Top("labels")),
    ("cached_content", Place::Rebuilt),
    (
        "response_modalities",
        Place::Generation("responseModalities"),
    ),
    ("media_resolution", Place::Generation("mediaResolution")),
    ("speech_config", Place::Rebuilt),
    ("audio_timestamp", Place::VertexOnly),
    ("thinking_config", Place::Generation("thinkingConfig")),
    (
        "enable_enhanced_civic_answers",
        Place::Generation("enableEnhancedCivicAnswers"),
    ),
    ("model_armor_config", Place::VertexOnly),
    ("service_tier", Place::Top("serviceTier")),
    (
        "audio_transcription_config",
        Place::Generation("audioTranscriptionConfig"),
    ),
    ("continuation_token", Place::Top("continuationToken")),
    ("generation_output_config", Place::VertexOnly),
    ("store", Place::Top("store")),
];

/// A `Part`'s fields and their names on the wire (`_Part_to_mldev`); the values go as
/// they are, but for `function_call` (its known fields, arguments untouched).
const PART_FIELDS: &[(&str, &str)] = &[
    ("media_resolution", "mediaResolution"),
    ("code_execution_result", "codeExecutionResult"),
    ("executable_code", "executableCode"),
    ("file_data", "fileData"),
    ("function_call", "functionCall"),
    ("function_response", "functionResponse"),
    ("inline_data", "inlineData"),
    ("text", "text"),
    ("thought", "thought"),
    ("thought_signature", "thoughtSignature"),
    ("video_metadata", "videoMetadata"),
    ("tool_call", "toolCall"),
    ("tool_response", "toolResponse"),
    ("part_metadata", "partMetadata"),
    ("audio_transcription", "audioTranscription"),
    ("media_processing", "mediaProcessing"),
    ("speech_metadata", "speechMetadata"),
    ("document_metadata", "documentMetadata"),
    ("spreadsheet_metadata", "spreadsheetMetadata"),
    ("audio_metadata", "audioMetadata"),
];

/// A `Tool`'s fields on the Gemini API (`_Tool_to_mldev`); `None`: refused there.
const TOOL_FIELDS: &[(&str, Option<&str>)] = &[
    ("retrieval", None),
    ("computer_use", Some("computerUse")),
    ("file_search", Some("fileSearch")),
    ("google_search", Some("googleSearch")),
    ("google_maps", Some("googleMaps")),
    ("code_execution", Some("codeExecution")),
    ("enterprise_web_search", None),
    ("function_declarations", Some("functionDeclarations")),
    ("google_search_retrieval", Some("googleSearchRetrieval")),
    ("parallel_ai_search", None),
    ("url_context", Some("urlContext")),
    ("mcp_servers", Some("mcpServers")),
    ("exa_ai_search", None),
];

/// The fields of the SDK's `Schema` (an OpenAPI subset), by their Python names.
const SCHEMA_FIELDS: &[&str] = &[
    "additional_properties",
    "defs",
    "ref",
    "any_of",
    "default",
    "description",
    "enum",
    "example",
    "format",
    "items",
    "max_items",
    "max_length",
    "max_properties",
    "maximum",
    "min_items",
    "min_length",
    "min_properties",
    "minimum",
    "nullable",
    "pattern",
    "properties",
    "property_ordering",
    "required",
    "title",
    "type",
];

/// The SDK's own fields of an answer object, never on the wire.
const SDK_ANSWER_FIELDS: &[&str] = &[
    "sdk_http_response",
    "automatic_function_calling_history",
    "parsed",
];

/// Whether a request is a google-genai call (`vertexai://...`).
pub(super) fn is_genai(req: &Map<String, Value>) -> bool {
    req.get("url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.starts_with("vertexai://"))
}

/// Converts a google-genai call made by the test `test_id` (`""`: outside any test).
pub(super) fn convert(
    req: &Map<String, Value>,
    resp: &Map<String, Value>,
    test_id: String,
) -> Result<(Recording, Kind), Skip> {
    let url = req.get("url").and_then(Value::as_str).unwrap_or_default();
    let streamed = match url.strip_prefix("vertexai://") {
        Some("/generate_content") => false,
        Some("/generate_content_stream") => true,
        _ => {
            return Err(Skip::UnsupportedEndpoint {
                endpoint: url.to_owned(),
            })
        }
    };
    let call = req
        .get("body")
        .and_then(Value::as_object)
        .ok_or_else(|| Skip::Invalid("a google-genai call without a `body` object".into()))?;
    let model = call
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| Skip::Invalid("a google-genai call without `model`".into()))?;
    let name = model.rsplit('/').next().unwrap_or(model);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._@".contains(&b))
    {
        return Err(Skip::Invalid(format!(
            "the model {model:?} does not end in a model name"
        )));
    }
    let endpoint = if streamed {
        format!("/{API_VERSION}/models/{name}:streamGenerateContent?alt=sse")
    } else {
        format!("/{API_VERSION}/models/{name}:generateContent")
    };
    let body = request_body(call)?;

    let (response, kind) = if is_exception(resp) {
        (error_response(resp), Kind::Error)
    } else {
        let answer = resp
            .get("body")
            .ok_or_else(|| Skip::Invalid("no `response.body`".into()))?;
        if is_streaming(resp) {
            let chunks = answer
                .as_array()
                .ok_or_else(|| Skip::Invalid("a streamed body is not a list of chunks".into()))?;
            let frames = chunks
                .iter()
                .map(|chunk| Frame {
                    data: Some(wire_answer(chunk)),
                    ..Frame::default()
                })
                .collect();
            (
                RecordedResponse::streamed(200, StreamFormat::Sse, frames),
                Kind::Stream,
            )
        } else {
            (json_response(wire_answer(answer)), Kind::Plain)
        }
    };
    let recording = Recording {
        test_id: Some(test_id),
        request: RecordedRequest {
            method: "POST".into(),
            endpoint,
            model: Some(name.to_owned()),
            body,
        },
        response,
    };
    Ok((recording, kind))
}

/// The Gemini API request body of a `generate_content` call (`_GenerateContentParameters_to_mldev`).
fn request_body(call: &Map<String, Value>) -> Result<Value, Skip> {
    let mut body = Map::new();
    let contents = call
        .get("contents")
        .ok_or_else(|| Skip::Invalid("a google-genai call without `contents`".into()))?;
    body.insert("contents".into(), Value::Array(contents_of(contents)?));
    // The SDK treats an empty config as none: no `generationConfig` at all.
    match call.get("config") {
        None | Some(Value::Null) => {}
        Some(Value::Object(config)) if config.is_empty() => {}
        Some(Value::Object(config)) => {
            let generation = split_config(config, &mut body)?;
            body.insert("generationConfig".into(), Value::Object(generation));
        }
        Some(other) => {
            return Err(Skip::Invalid(format!(
                "the call's `config` is {other}, not an object"
            )))
        }
    }
    Ok(Value::Object(body))
}

/// Puts each config field where the SDK puts it: returns `generationConfig`, and
/// adds the top-level fields to `body`.
fn split_config(
    config: &Map<String, Value>,
    body: &mut Map<String, Value>,
) -> Result<Map<String, Value>, Skip> {
    let mut generation = Map::new();
    for (key, value) in config {
        if value.is_null() {
            continue;
        }
        let place = CONFIG_FIELDS
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                Skip::Invalid(format!(
                    "the google-genai config field `{key}` is not one this importer knows (google-genai 3.6.1)"
                ))
            })?;
        match place {
            Place::Generation(name) => {
                generation.insert(name.into(), value.clone());
            }
            Place::Top(name) => {
                body.insert(name.into(), value.clone());
            }
            Place::SdkOnly => {}
            Place::VertexOnly => {
                return Err(Skip::Invalid(format!(
                    "the google-genai config field `{key}` exists only on Vertex AI: the same call on the Gemini API is refused by the SDK"
                )))
            }
            Place::Rebuilt => match key.as_str() {
                "system_instruction" => {
                    body.insert("systemInstruction".into(), content_of(value)?);
                }
                "response_schema" => {
                    generation.insert("responseSchema".into(), response_schema(value)?);
                }
                "safety_settings" => {
                    body.insert("safetySettings".into(), safety_settings(value)?);
                }
                "tools" => {
                    body.insert("tools".into(), tools(value)?);
                }
                "tool_config" => {
                    body.insert("toolConfig".into(), tool_config(value)?);
                }
                "cached_content" => {
                    let name = value.as_str().ok_or_else(|| {
                        Skip::Invalid("`cached_content` is not a string".into())
                    })?;
                    let name = if name.starts_with("cachedContents/") {
                        name.to_owned()
                    } else {
                        format!("cachedContents/{name}")
                    };
                    body.insert("cachedContent".into(), Value::String(name));
                }
                "speech_config" => {
                    let config = match value {
                        Value::String(voice) => serde_json::json!({
                            "voice_config": {"prebuilt_voice_config": {"voice_name": voice}}
                        }),
                        other => other.clone(),
                    };
                    generation.insert("speechConfig".into(), config);
                }
                other => unreachable!("{other} is rebuilt but has no rule"),
            },
        }
    }
    Ok(generation)
}

/// `contents` as the SDK sends them (`t_contents`): a string is one user turn; a
/// list of `Content` objects goes turn by turn.
fn contents_of(contents: &Value) -> Result<Vec<Value>, Skip> {
    match contents {
        Value::String(_) => Ok(vec![content_of(contents)?]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::Object(map) if is_content(map) => content_fields(map),
                _ => Err(Skip::Invalid(format!(
                    "`contents` holds {}, not a Content object (role and parts)",
                    truncated(item)
                ))),
            })
            .collect(),
        other => Err(Skip::Invalid(format!(
            "`contents` is {}, neither text nor a list of Content objects",
            truncated(other)
        ))),
    }
}

/// Whether an object is a `Content` (`role`, `parts`) rather than a `Part`.
fn is_content(map: &Map<String, Value>) -> bool {
    !map.is_empty() && map.keys().all(|k| k == "role" || k == "parts")
}

/// One `Content` as the SDK sends it (`t_content`, then `_Content_to_mldev`): a
/// string, a part, or a list of parts is a user turn (a function call: a model turn).
fn content_of(value: &Value) -> Result<Value, Skip> {
    let user_turn = |parts: Vec<Value>| -> Value {
        let role = if parts.iter().any(|p| p.get("functionCall").is_some()) {
            "model"
        } else {
            "user"
        };
        serde_json::json!({"parts": parts, "role": role})
    };
    match value {
        Value::Object(map) if is_content(map) => content_fields(map),
        Value::Object(_) | Value::String(_) => Ok(user_turn(vec![part_of(value)?])),
        Value::Array(parts) => Ok(serde_json::json!({
            "parts": parts.iter().map(part_of).collect::<Result<Vec<_>, _>>()?,
            "role": "user"
        })),
        other => Err(Skip::Invalid(format!(
            "a content of {}, neither text, a part nor a Content object",
            truncated(other)
        ))),
    }
}

fn content_fields(map: &Map<String, Value>) -> Result<Value, Skip> {
    let mut out = Map::new();
    if let Some(parts) = map.get("parts").filter(|p| !p.is_null()) {
        let parts = parts
            .as_array()
            .ok_or_else(|| Skip::Invalid("a Content's `parts` is not a list".into()))?;
        out.insert(
            "parts".into(),
            Value::Array(parts.iter().map(part_of).collect::<Result<_, _>>()?),
        );
    }
    if let Some(role) = map.get("role").filter(|r| !r.is_null()) {
        out.insert("role".into(), role.clone());
    }
    Ok(Value::Object(out))
}

/// One `Part` as the SDK sends it (`_Part_to_mldev`): a string is a text part.
fn part_of(value: &Value) -> Result<Value, Skip> {
    let map = match value {
        Value::String(text) => return Ok(serde_json::json!({ "text": text })),
        Value::Object(map) => map,
        other => {
            return Err(Skip::Invalid(format!(
                "a part of {}, neither text nor a Part object",
                truncated(other)
            )))
        }
    };
    let mut out = Map::new();
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        let (_, wire) = PART_FIELDS.iter().find(|(k, _)| k == key).ok_or_else(|| {
            Skip::Invalid(format!(
                "the part field `{key}` is not one this importer knows"
            ))
        })?;
        let value = match key.as_str() {
            "function_call" => function_call(value)?,
            // bytes: the SDK sends them in the URL-safe base64 alphabet.
            "thought_signature" => url_safe_base64(value),
            "inline_data" => {
                let mut blob = value.clone();
                if let Some(data) = blob.get_mut("data") {
                    *data = url_safe_base64(data);
                }
                blob
            }
            _ => value.clone(),
        };
        out.insert((*wire).into(), value);
    }
    Ok(Value::Object(out))
}

/// A `FunctionCall` (`_FunctionCall_to_mldev`): its id, name and arguments, as they are.
fn function_call(value: &Value) -> Result<Value, Skip> {
    let map = value
        .as_object()
        .ok_or_else(|| Skip::Invalid("a `function_call` that is not an object".into()))?;
    let mut out = Map::new();
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "id" | "args" | "name" => {
                out.insert(key.clone(), value.clone());
            }
            _ => {
                return Err(Skip::Invalid(format!(
                    "the function_call field `{key}` is refused by the SDK on the Gemini API"
                )))
            }
        }
    }
    Ok(Value::Object(out))
}

/// A base64 string in the URL-safe alphabet (what google-genai sends for bytes).
fn url_safe_base64(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('+', "-").replace('/', "_")),
        other => other.clone(),
    }
}

/// `safety_settings` (`_SafetySetting_to_mldev`): category and threshold.
fn safety_settings(value: &Value) -> Result<Value, Skip> {
    let items = value
        .as_array()
        .ok_or_else(|| Skip::Invalid("`safety_settings` is not a list".into()))?;
    items
        .iter()
        .map(|item| {
            let map = item
                .as_object()
                .ok_or_else(|| Skip::Invalid("a safety setting is not an object".into()))?;
            let mut out = Map::new();
            for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
                match key.as_str() {
                    "category" | "threshold" => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => {
                        return Err(Skip::Invalid(format!(
                        "the safety setting field `{key}` is refused by the SDK on the Gemini API"
                    )))
                    }
                }
            }
            Ok(Value::Object(out))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// `tool_config` (`_ToolConfig_to_mldev`).
fn tool_config(value: &Value) -> Result<Value, Skip> {
    let map = value
        .as_object()
        .ok_or_else(|| Skip::Invalid("`tool_config` is not an object".into()))?;
    let mut out = Map::new();
    for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
        match key.as_str() {
            "retrieval_config" => {
                out.insert("retrievalConfig".into(), value.clone());
            }
            "include_server_side_tool_invocations" => {
                out.insert("includeServerSideToolInvocations".into(), value.clone());
            }
            "function_calling_config" => {
                let config = value.as_object().ok_or_else(|| {
                    Skip::Invalid("`function_calling_config` is not an object".into())
                })?;
                let mut calling = Map::new();
                for (key, value) in config.iter().filter(|(_, v)| !v.is_null()) {
                    match key.as_str() {
                        "allowed_function_names" => {
                            calling.insert("allowedFunctionNames".into(), value.clone());
                        }
                        "mode" => {
                            calling.insert("mode".into(), value.clone());
                        }
                        _ => {
                            return Err(Skip::Invalid(format!(
                                "the function_calling_config field `{key}` is not one the SDK sends to the Gemini API"
                            )))
                        }
                    }
                }
                out.insert("functionCallingConfig".into(), Value::Object(calling));
            }
            _ => {
                return Err(Skip::Invalid(format!(
                    "the tool_config field `{key}` is not one this importer knows"
                )))
            }
        }
    }
    Ok(Value::Object(out))
}

/// `tools` as the SDK sends them (`t_tools`, then `_Tool_to_mldev`): every function
/// declaration merged into one tool, last; the other tools in their order.
fn tools(value: &Value) -> Result<Value, Skip> {
    let items = value
        .as_array()
        .ok_or_else(|| Skip::Invalid("`tools` is not a list".into()))?;
    let mut out = Vec::new();
    let mut declarations = Vec::new();
    for item in items {
        let map = item
            .as_object()
            .ok_or_else(|| Skip::Invalid("a tool is not an object".into()))?;
        let mut tool = Map::new();
        let mut declared = false;
        for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
            let (_, wire) = TOOL_FIELDS.iter().find(|(k, _)| k == key).ok_or_else(|| {
                Skip::Invalid(format!(
                    "the tool field `{key}` is not one this importer knows"
                ))
            })?;
            let wire = wire.ok_or_else(|| {
                Skip::Invalid(format!(
                    "the tool `{key}` exists only on Vertex AI: the same call on the Gemini API is refused by the SDK"
                ))
            })?;
            match key.as_str() {
                "function_declarations" => {
                    let list = value.as_array().ok_or_else(|| {
                        Skip::Invalid("`function_declarations` is not a list".into())
                    })?;
                    if list.is_empty() {
                        tool.insert(wire.into(), Value::Array(Vec::new()));
                    } else {
                        declared = true;
                        for d in list {
                            declarations.push(function_declaration(d)?);
                        }
                    }
                }
                "google_search" => {
                    tool.insert(wire.into(), google_search(value)?);
                }
                _ => {
                    tool.insert(wire.into(), value.clone());
                }
            }
        }
        // A tool of function declarations only is merged whole; what else it held
        // stays in its place.
        if !(declared && tool.is_empty()) {
            out.push(Value::Object(tool));
        }
    }
    if !declarations.is_empty() {
        out.push(serde_json::json!({ "functionDeclarations": declarations }));
    }
    Ok(Value::Array(out))
}

/// `google_search` (`_GoogleSearch_to_mldev`).
fn google_search(value: &Value) -> Result<Value, Skip> {
    let map = value
        .as_object()
        .ok_or_else(|| Skip::Invalid("`google_search` is not an object".into()))?;
    let mut out = Map::new();
    for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
        match key.as_str() {
            "search_types" => out.insert("searchTypes".into(), value.clone()),
            "time_range_filter" => out.insert("timeRangeFilter".into(), value.clone()),
            _ => {
                return Err(Skip::Invalid(format!(
                    "the google_search field `{key}` is refused by the SDK on the Gemini API"
                )))
            }
        };
    }
    Ok(Value::Object(out))
}

/// A `FunctionDeclaration` as the SDK sends it: its own fields by their Python names,
/// `parameters` and `response` as the SDK's `Schema`, JSON schemas as they are.
fn function_declaration(value: &Value) -> Result<Value, Skip> {
    let map = value
        .as_object()
        .ok_or_else(|| Skip::Invalid("a function declaration is not an object".into()))?;
    let mut out = Map::new();
    for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
        let value = match key.as_str() {
            "name"
            | "description"
            | "behavior"
            | "parameters_json_schema"
            | "response_json_schema" => value.clone(),
            "parameters" | "response" => schema_object(value)?,
            _ => {
                return Err(Skip::Invalid(format!(
                    "the function declaration field `{key}` is not one this importer knows"
                )))
            }
        };
        out.insert(key.clone(), value);
    }
    Ok(Value::Object(out))
}

/// A `response_schema` given as JSON, as the SDK sends it (`t_schema`: its
/// `process_schema`, then the `Schema` object).
fn response_schema(value: &Value) -> Result<Value, Skip> {
    let mut schema = value.clone();
    if !schema.is_object() {
        return Err(Skip::Invalid(
            "a `response_schema` that is not a JSON object (a Python type the SDK converts)".into(),
        ));
    }
    process_schema(&mut schema)?;
    schema_object(&schema)
}

/// google-genai's `process_schema` on a schema object, in place.
fn process_schema(schema: &mut Value) -> Result<(), Skip> {
    let Value::Object(map) = schema else {
        return Ok(());
    };
    let truthy =
        |v: Option<&Value>| v.is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)));
    if truthy(map.get("additionalProperties")) || truthy(map.get("additional_properties")) {
        return Err(Skip::Invalid(
            "a `response_schema` with `additionalProperties`, which the SDK refuses on the Gemini API".into(),
        ));
    }
    for (from, to) in [
        ("additional_properties", "additionalProperties"),
        ("any_of", "anyOf"),
        ("prefix_items", "prefixItems"),
        ("property_ordering", "propertyOrdering"),
    ] {
        if let Some(v) = map.remove(from) {
            if !v.is_null() {
                map.insert(to.into(), v);
            }
        }
    }
    if map.contains_key("$ref") || map.contains_key("$defs") {
        return Err(Skip::Invalid(
            "a `response_schema` with `$ref`/`$defs`, which this importer does not inline".into(),
        ));
    }
    // `null` types become `nullable` (`handle_null_fields`).
    if map.get("type").and_then(Value::as_str) == Some("null") {
        map.insert("nullable".into(), Value::Bool(true));
        map.remove("type");
    } else if let Some(Value::Array(any_of)) = map.get_mut("anyOf") {
        let before = any_of.len();
        any_of.retain(|item| item != &serde_json::json!({"type": "null"}));
        if any_of.len() < before {
            let single = (any_of.len() == 1).then(|| any_of[0].clone());
            map.insert("nullable".into(), Value::Bool(true));
            if let Some(Value::Object(only)) = single {
                map.remove("anyOf");
                for (k, v) in only {
                    map.insert(k, v);
                }
            }
        }
    }
    if let Some(Value::Array(any_of)) = map.get_mut("anyOf") {
        for item in any_of {
            process_schema(item)?;
        }
        return Ok(());
    }
    let kind = map
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    if let Some(constant) = map.remove("const") {
        match (kind.as_deref(), constant) {
            (Some("STRING"), c @ Value::String(_)) => {
                map.insert("enum".into(), Value::Array(vec![c]));
            }
            (_, c) if c.is_null() => {}
            _ => return Err(Skip::Invalid(
                "a `response_schema` with a `const` that is not a string, which the SDK refuses"
                    .into(),
            )),
        }
    }
    match kind.as_deref() {
        Some("OBJECT") => {
            let mut names = None;
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for sub in properties.values_mut() {
                    process_schema(sub)?;
                }
                names = Some(
                    properties
                        .keys()
                        .cloned()
                        .map(Value::String)
                        .collect::<Vec<_>>(),
                );
            }
            if let Some(names) = names.filter(|n| n.len() > 1) {
                if !map.contains_key("propertyOrdering") {
                    map.insert("property_ordering".into(), Value::Array(names));
                }
            }
        }
        Some("ARRAY") => {
            if let Some(items) = map.get_mut("items") {
                process_schema(items)?;
            }
            if map.contains_key("prefixItems") {
                return Err(Skip::Invalid(
                    "a `response_schema` with `prefixItems`, which the SDK's Schema refuses".into(),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// A JSON schema object as the SDK's `Schema` sends it: each field by its Python name
/// (a camelCase spelling is accepted), `type` in capitals, nested schemas alike,
/// `null` values left out. A field the `Schema` does not have is refused by the SDK.
fn schema_object(value: &Value) -> Result<Value, Skip> {
    let map = value
        .as_object()
        .ok_or_else(|| Skip::Invalid(format!("a schema of {}, not an object", truncated(value))))?;
    let mut out = Map::new();
    for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
        let field = SCHEMA_FIELDS
            .iter()
            .copied()
            .find(|f| *f == key || to_camel(f) == *key)
            .ok_or_else(|| {
                Skip::Invalid(format!(
                    "a schema with `{key}`, a field the SDK's Schema does not have (it refuses it)"
                ))
            })?;
        let value = match field {
            "type" => match value {
                Value::String(t) => Value::String(t.to_ascii_uppercase()),
                other => other.clone(),
            },
            "items" => schema_object(value)?,
            "any_of" => Value::Array(
                value
                    .as_array()
                    .ok_or_else(|| Skip::Invalid("a schema's `anyOf` is not a list".into()))?
                    .iter()
                    .map(schema_object)
                    .collect::<Result<_, _>>()?,
            ),
            "properties" | "defs" => Value::Object(
                value
                    .as_object()
                    .ok_or_else(|| Skip::Invalid(format!("a schema's `{key}` is not an object")))?
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), schema_object(v)?)))
                    .collect::<Result<_, Skip>>()?,
            ),
            _ => value.clone(),
        };
        out.insert(field.into(), value);
    }
    Ok(Value::Object(out))
}

/// An SDK answer object (or stream chunk) as the Gemini API sent it: every field name
/// in camelCase (the SDK's objects alias each field to its camelCase name), but for
/// what the SDK passes through as it is (function-call arguments, function responses);
/// without the SDK's own fields.
fn wire_answer(answer: &Value) -> Value {
    match answer {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !SDK_ANSWER_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (to_camel(k), camel_keys(k, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `value` (found under `key`) with its field names in camelCase, down to the
/// free-form values (`args`, a function response's `response`, `part_metadata`).
fn camel_keys(key: &str, value: &Value) -> Value {
    if matches!(key, "args" | "response" | "part_metadata" | "partMetadata") {
        return value.clone();
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (to_camel(k), camel_keys(k, v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| camel_keys(key, v)).collect()),
        other => other.clone(),
    }
}

/// `snake_case` to `camelCase`, as pydantic's `to_camel` aliases the SDK's fields.
fn to_camel(name: &str) -> String {
    if !name.contains('_') {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for (i, word) in name.split('_').enumerate() {
        let mut chars = word.chars();
        match chars.next() {
            Some(c) if i > 0 => {
                out.extend(c.to_uppercase());
                out.push_str(chars.as_str());
            }
            Some(c) => {
                out.push(c);
                out.push_str(chars.as_str());
            }
            None => {}
        }
    }
    out
}

/// A short rendering of a value for error messages.
fn truncated(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogx::{convert as convert_file_value, Format};
    use serde_json::json;

    /// A file of `recorder-testkit/data/ogx-formats`, converted.
    fn committed(name: &str) -> crate::ogx::Converted {
        let path = std::path::Path::new(recorder_testkit::OGX_FORMATS).join(name);
        crate::ogx::convert_file(&path, u64::MAX).unwrap()
    }

    // The bodies below are what google-genai 3.6.1 sent for the same calls
    // (`genai.Client(...).models.generate_content(model=..., contents=..., config=...)`
    // against a capturing server), byte for byte but for key order.

    #[test]
    fn tools_and_config_split_as_the_sdk_splits_them() {
        let c = committed("derived__genai-tools-and-config.json");
        assert_eq!(c.format, Format::GoogleGenai);
        let req = &c.recording.request;
        assert_eq!(
            (
                req.method.as_str(),
                req.endpoint.as_str(),
                req.model.as_deref()
            ),
            (
                "POST",
                "/v1beta/models/gemini-2.0-flash:generateContent",
                Some("gemini-2.0-flash")
            )
        );
        let sdk: Value = serde_json::from_str(r#"{"contents": [{"parts": [{"text": "What is the weather in Paris right now, and what time is it there?"}], "role": "user"}], "systemInstruction": {"parts": [{"text": "You are a weather assistant. Use the tools."}], "role": "user"}, "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}], "tools": [{"functionDeclarations": [{"description": "Get current temperature for a given location.", "name": "get_weather", "parameters_json_schema": {"additionalProperties": false, "properties": {"location_name": {"description": "City and country e.g. Bogot\u00e1, Colombia", "type": "string"}, "unit_system": {"enum": ["metric", "imperial"], "type": "string"}}, "required": ["location_name"], "type": "object"}}, {"description": "Get the local time of a time zone.", "name": "get_time", "parameters": {"properties": {"time_zone": {"description": "IANA name, e.g. Europe/Paris", "type": "STRING"}}, "required": ["time_zone"], "type": "OBJECT"}}]}], "toolConfig": {"functionCallingConfig": {"allowedFunctionNames": ["get_weather", "get_time"], "mode": "ANY"}}, "generationConfig": {"temperature": 0.0, "topP": 0.9, "maxOutputTokens": 256, "stopSequences": ["<END>"], "thinkingConfig": {"thinking_budget": 0}}}"#).unwrap();
        assert_eq!(req.body, sdk);
        // The answer as the Gemini API sends it: camelCase, arguments untouched, no SDK fields.
        let body = c.recording.response.body.as_ref().unwrap();
        assert_eq!(
            body["candidates"][0]["content"]["parts"][0]["functionCall"],
            json!({"args": {"location_name": "Paris, France", "unit_system": "metric"}, "name": "get_weather"})
        );
        assert_eq!(body["candidates"][0]["finishReason"], "STOP");
        assert_eq!(
            body["usageMetadata"]["candidatesTokensDetails"][0]["tokenCount"],
            21
        );
        assert_eq!(body["responseId"], "Nrl3ad_0Gh7kmPUPq9fIwQI");
        for sdk_only in [
            "sdk_http_response",
            "sdkHttpResponse",
            "automaticFunctionCallingHistory",
        ] {
            assert!(body.get(sdk_only).is_none(), "{sdk_only}");
        }
    }

    #[test]
    fn a_stream_with_function_turns_and_a_schema() {
        let c = committed("derived__genai-stream-function-response-and-schema.json");
        let req = &c.recording.request;
        assert_eq!(
            req.endpoint,
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
        let sdk: Value = serde_json::from_str(r#"{"contents": [{"parts": [{"text": "What is the weather in Paris? Answer in JSON."}], "role": "user"}, {"parts": [{"functionCall": {"args": {"location_name": "Paris, France", "unit_system": "metric"}, "name": "get_weather"}}], "role": "model"}, {"parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 18, "sky_cover": "clear"}}}], "role": "user"}], "systemInstruction": {"parts": [{"text": "Answer with the JSON schema given."}], "role": "user"}, "generationConfig": {"candidateCount": 1, "seed": 7, "responseMimeType": "application/json", "responseSchema": {"properties": {"summary": {"description": "One sentence.", "type": "STRING"}, "temp_c": {"nullable": true, "type": "INTEGER"}}, "property_ordering": ["summary", "temp_c"], "required": ["summary"], "type": "OBJECT"}}}"#).unwrap();
        assert_eq!(req.body, sdk);
        assert_eq!(c.kind, Kind::Stream);
        let stream = c.recording.response.stream.as_ref().unwrap();
        assert_eq!(stream.frames.len(), 3, "one event per chunk, no [DONE]");
        let last = stream.frames[2].data.as_ref().unwrap();
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(last["usageMetadata"]["totalTokenCount"], 145);
        assert!(stream.frames.iter().all(|f| f.event.is_none()));
    }

    #[test]
    fn an_empty_config_sends_no_generation_config_and_text_is_a_user_turn() {
        let call = |config: Value| {
            convert_file_value(&json!({
                "test_id": null,
                "request": {"url": "vertexai:///generate_content",
                            "body": {"model": "gemini-2.5-flash", "contents": "hi", "config": config}},
                "response": {"body": {"candidates": []}, "is_streaming": false}
            }))
        };
        let c = call(json!({})).unwrap();
        assert_eq!(
            c.recording.request.body,
            json!({"contents": [{"parts": [{"text": "hi"}], "role": "user"}]})
        );
        assert_eq!(
            c.recording.request.endpoint,
            "/v1beta/models/gemini-2.5-flash:generateContent"
        );
        // SDK-only options are not sent, but a config that has them is still a config.
        let c = call(json!({"http_options": {"timeout": 5}, "automatic_function_calling": {"disable": true}})).unwrap();
        assert_eq!(c.recording.request.body["generationConfig"], json!({}));
        // What the importer cannot send as the SDK would: skipped, named.
        for (config, says) in [
            (json!({"routing_config": {}}), "exists only on Vertex AI"),
            (
                json!({"frobnicate": 1}),
                "`frobnicate` is not one this importer knows",
            ),
            (
                json!({"response_schema": {"type": "object", "additionalProperties": true}}),
                "`additionalProperties`",
            ),
            (
                json!({"tools": [{"retrieval": {}}]}),
                "the tool `retrieval` exists only on Vertex AI",
            ),
        ] {
            let e = call(config).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn tools_merge_their_declarations_into_one_last() {
        let t = tools(&json!([
            {"function_declarations": [{"name": "a"}]},
            {"google_search": {}},
            {"function_declarations": [{"name": "b"}], "code_execution": {}}
        ]))
        .unwrap();
        assert_eq!(
            t,
            json!([
                {"googleSearch": {}},
                {"codeExecution": {}},
                {"functionDeclarations": [{"name": "a"}, {"name": "b"}]}
            ])
        );
    }

    #[test]
    fn camel_case_stops_at_free_form_values() {
        assert_eq!(
            to_camel("candidates_tokens_details"),
            "candidatesTokensDetails"
        );
        assert_eq!(to_camel("text"), "text");
        let answer = wire_answer(&json!({
            "sdk_http_response": {"headers": {}},
            "candidates": [{"content": {"parts": [
                {"function_call": {"name": "f", "args": {"snake_key": {"inner_key": 1}}}},
                {"function_response": {"name": "f", "response": {"raw_value": 2}}}
            ]}}],
            "prompt_feedback": {"block_reason": "OTHER"}
        }));
        assert_eq!(
            answer,
            json!({
                "candidates": [{"content": {"parts": [
                    {"functionCall": {"name": "f", "args": {"snake_key": {"inner_key": 1}}}},
                    {"functionResponse": {"name": "f", "response": {"raw_value": 2}}}
                ]}}],
                "promptFeedback": {"blockReason": "OTHER"}
            })
        );
    }
}
