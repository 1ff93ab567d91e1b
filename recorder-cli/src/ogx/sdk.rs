//! OGX's format for SDK calls: the OpenAI and Ollama Python SDKs' calls, answered with
//! their SDK objects.
//!
//! ```text
//! { "test_id": "tests/integration/x.py::test_y[txt=ollama/llama3.2:3b]",
//!   "request":  { "method": "POST", "url": "...", "endpoint": "/v1/chat/completions",
//!                 "model": "...", "body": { ... } },
//!   "response": { "body": {"__type__": "<python class>", "__data__": <JSON>} | [ ...one per chunk... ],
//!                 "is_streaming": false, "is_exception": false, "exception_data": { ... } } }
//! ```
//!
//! | OGX `request.endpoint` | our request | our response |
//! |---|---|---|
//! | `/v1/chat/completions`, `/v1/completions` | `POST`, the body | `__data__` as JSON; a stream as SSE, one `data:` frame per chunk, then `data: [DONE]` |
//! | `/v1/embeddings` | `POST`, the body | `__data__` as JSON |
//! | `/v1/models` | `GET`, no body, shared (no test id) | `{"object":"list","data":[each __data__]}` |
//! | `/api/tags` (Ollama) | `GET`, no body, shared (no test id) | `__data__` (`{"models":[...]}`) |
//! | `/api/ps` (Ollama) | `GET`, no body, under the test id | `__data__` as JSON |
//! | `/v1/responses` | `POST`, the body | `__data__` as JSON; a stream as SSE, one event per chunk named by its `type` (no `[DONE]`) |
//!
//! OGX writes every request as `POST` (model lists and `/api/ps` with the body `{}`):
//! the method comes from the table above instead. The body is what the OpenAI SDK puts
//! on the wire: the keys of `extra_body` are merged into it, `extra_query` becomes the
//! endpoint's query string (`/v1/models?project_id=...`; model lists merge whatever
//! their query), and `extra_headers` and `timeout` (SDK options, never sent as body)
//! are dropped. Nothing else is changed.
//!
//! Recorded errors (`"is_exception": true`) replay with their status (see the
//! [module docs](super)).
//!
//! Response bodies are kept as recorded, ids included: OGX already normalized their
//! top-level `id` (`rec-<their hash[:12]>`) and `created`, so those ids are not
//! re-normalized to our hash. The timestamps OGX leaves (nested ones, Ollama's
//! `expires_at`) are normalized by this project's rules, so that imported
//! recordings pass `recordings check`.
//!
//! An answer recorded from another SDK than `openai` (for `/v1/...`) or `ollama` (for
//! `/api/...`) is that SDK's object, not the JSON on the wire: [`Skip::ProviderType`].

use super::{error_response, is_exception, is_streaming, json_response, percent_encode};
use super::{Format, Kind, Skip};
use recorder_runtime::identity::is_model_list;
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::stream::{Frame, StreamFormat};
use serde_json::{Map, Value};

/// The endpoints that are imported (paths, without query).
pub const SUPPORTED_ENDPOINTS: &[&str] = &[
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/models",
    "/api/tags",
    "/api/ps",
];

/// SDK options that OGX records among the body's keys but that are never sent as body.
const SDK_OPTIONS: &[&str] = &["extra_body", "extra_query", "extra_headers", "timeout"];

/// Converts an SDK call (a file whose `request` has an `endpoint`) made by the test
/// `test_id` (`""`: outside any test).
pub(super) fn convert(
    req: &Map<String, Value>,
    resp: &Map<String, Value>,
    test_id: String,
) -> Result<(Format, Recording, Kind), Skip> {
    let endpoint = req
        .get("endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| Skip::Invalid("no `request.endpoint`".into()))?;
    let path = endpoint.split('?').next().unwrap_or(endpoint);
    if !SUPPORTED_ENDPOINTS.contains(&path) {
        return Err(Skip::UnsupportedEndpoint {
            endpoint: endpoint.to_owned(),
        });
    }
    let ollama = path.starts_with("/api/");
    let format = if ollama {
        Format::OllamaSdk
    } else {
        Format::OpenAiSdk
    };
    let get = matches!(path, "/v1/models" | "/api/tags" | "/api/ps");
    let method = if get { "GET" } else { "POST" };

    let (body, query) = wire_body(req.get("body").unwrap_or(&Value::Null))?;
    let endpoint = with_query(endpoint, &query);
    let model_list = is_model_list(method, &endpoint);
    // Model lists are shared by all tests (no test id).
    let test_id = (!model_list).then_some(test_id);
    let body = if get { Value::Null } else { body };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .or_else(|| body.get("model").and_then(Value::as_str))
        .filter(|_| !model_list)
        .map(str::to_owned);
    let request = RecordedRequest {
        method: method.to_owned(),
        endpoint,
        model,
        body,
    };

    let (response, kind) = if is_exception(resp) {
        (error_response(resp), Kind::Error)
    } else {
        let body = resp
            .get("body")
            .ok_or_else(|| Skip::Invalid("no `response.body`".into()))?;
        if model_list {
            (
                json_response(model_list_body(body, ollama)?),
                Kind::ModelList,
            )
        } else if is_streaming(resp) {
            if ollama {
                return Err(Skip::Invalid(format!(
                    "a streamed response from {path}, which does not stream"
                )));
            }
            let items = body
                .as_array()
                .ok_or_else(|| Skip::Invalid("a streamed body is not a list of chunks".into()))?;
            // The Responses API names each event (`event: response.created`) and
            // ends without `[DONE]`; chat and completion chunks are bare `data:`.
            let typed = path == "/v1/responses";
            let mut frames = items
                .iter()
                .map(|item| {
                    let data = unwrap_data(item, ollama)?;
                    let event = typed
                        .then(|| data.get("type").and_then(Value::as_str).map(str::to_owned))
                        .flatten();
                    Ok(Frame {
                        event,
                        data: Some(frame_data(data)),
                        ..Frame::default()
                    })
                })
                .collect::<Result<Vec<_>, Skip>>()?;
            if !typed {
                frames.push(Frame {
                    data: Some(Value::String("[DONE]".into())),
                    ..Frame::default()
                });
            }
            (
                RecordedResponse::streamed(200, StreamFormat::Sse, frames),
                Kind::Stream,
            )
        } else {
            (json_response(unwrap_data(body, ollama)?), Kind::Plain)
        }
    };
    let recording = Recording {
        test_id,
        request,
        response,
    };
    Ok((format, recording, kind))
}

/// The body as the OpenAI SDK sends it, and the query from `extra_query`.
fn wire_body(body: &Value) -> Result<(Value, Vec<(String, String)>), Skip> {
    let Value::Object(map) = body else {
        return Ok((body.clone(), Vec::new()));
    };
    let mut out = Map::new();
    for (k, v) in map {
        if !SDK_OPTIONS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    match map.get("extra_body") {
        Some(Value::Object(extra)) => {
            for (k, v) in extra {
                out.insert(k.clone(), v.clone());
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(Skip::Invalid("`extra_body` is not an object".into())),
    }
    let query = match map.get("extra_query") {
        Some(Value::Object(q)) => q
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(Skip::Invalid("`extra_query` is not an object".into())),
    };
    Ok((Value::Object(out), query))
}

fn with_query(endpoint: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return endpoint.to_owned();
    }
    let mut out = endpoint.to_owned();
    out.push(if endpoint.contains('?') { '&' } else { '?' });
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    out.push_str(&pairs.join("&"));
    out
}

/// The `__data__` of a `{"__type__", "__data__"}` wrapper, if its type is wire JSON.
fn unwrap_data(item: &Value, ollama: bool) -> Result<Value, Skip> {
    let type_name = item
        .get("__type__")
        .and_then(Value::as_str)
        .ok_or_else(|| Skip::Invalid("a response body without `__type__`".into()))?;
    let sdk = if ollama { "ollama." } else { "openai." };
    if !type_name.starts_with(sdk) {
        return Err(Skip::ProviderType {
            type_name: type_name.to_owned(),
        });
    }
    item.get("__data__")
        .cloned()
        .ok_or_else(|| Skip::Invalid(format!("a `{type_name}` without `__data__`")))
}

/// A chunk as [`Frame::data`] holds it: JSON as is, except that a JSON string is
/// kept as the raw text of the `data:` line (its quoted form), per the stream rule.
fn frame_data(chunk: Value) -> Value {
    match chunk {
        Value::String(s) => Value::String(Value::String(s).to_string()),
        other => other,
    }
}

fn model_list_body(body: &Value, ollama: bool) -> Result<Value, Skip> {
    match body {
        // OGX stores the items of an OpenAI model list, one wrapper per model.
        Value::Array(items) => {
            let data = items
                .iter()
                .map(|i| unwrap_data(i, ollama))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if ollama {
                serde_json::json!({ "models": data })
            } else {
                serde_json::json!({ "object": "list", "data": data })
            })
        }
        // A whole list response (e.g. Ollama's `ListResponse`).
        other => unwrap_data(other, ollama),
    }
}

#[cfg(test)]
mod tests {
    use crate::ogx::{convert, Kind, Skip};
    use recorder_runtime::identity::RequestIdentity;
    use recorder_runtime::stream::StreamFormat;
    use serde_json::{json, Value};

    use crate::ogx::tests::{file, wrap, TEST};

    const COMPLETION: &str = "openai.types.chat.chat_completion.ChatCompletion";
    const CHUNK: &str = "openai.types.chat.chat_completion_chunk.ChatCompletionChunk";

    #[test]
    fn plain_chat_completion() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7, "stream": false});
        let data = json!({"id": "rec-aaaaaaaaaaaa", "object": "chat.completion", "created": 0, "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}]});
        let c = convert(&file(
            "/v1/chat/completions",
            body.clone(),
            json!({"body": wrap(COMPLETION, data.clone()), "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::Plain);
        let r = &c.recording;
        assert_eq!(r.test_id.as_deref(), Some(TEST));
        assert_eq!(
            (
                r.request.method.as_str(),
                r.request.endpoint.as_str(),
                r.request.model.as_deref()
            ),
            ("POST", "/v1/chat/completions", Some("m"))
        );
        assert_eq!(r.request.body, body);
        assert_eq!(
            (r.response.status, r.response.content_type.as_deref()),
            (200, Some("application/json"))
        );
        assert_eq!(
            r.response.body.as_ref(),
            Some(&data),
            "kept exactly, ids not renormalized"
        );
        let wire = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            c.hash,
            RequestIdentity::new("POST", "/v1/chat/completions", &wire, &[], Some(TEST)).hash()
        );
    }

    #[test]
    fn streams_become_sse_frames_ending_with_done() {
        let chunks = [
            json!({"id": "rec-1", "object": "chat.completion.chunk", "choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]}}]}),
            json!({"id": "rec-1", "object": "chat.completion.chunk", "choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}, "finish_reason": "tool_calls"}]}),
        ];
        let body: Vec<Value> = chunks.iter().map(|c| wrap(CHUNK, c.clone())).collect();
        let c = convert(&file(
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
            json!({"body": body, "is_streaming": true}),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::Stream);
        let resp = &c.recording.response;
        assert_eq!(resp.content_type.as_deref(), Some("text/event-stream"));
        let stream = resp.stream.as_ref().unwrap();
        assert_eq!(stream.format, StreamFormat::Sse);
        let data: Vec<_> = stream
            .frames
            .iter()
            .map(|f| f.data.clone().unwrap())
            .collect();
        assert_eq!(
            data,
            vec![chunks[0].clone(), chunks[1].clone(), json!("[DONE]")]
        );
        assert!(stream
            .frames
            .iter()
            .all(|f| f.event.is_none() && f.id.is_none()));
    }

    #[test]
    fn stream_edge_cases() {
        // A chunk that is a JSON string goes on the wire quoted, as the server sent it.
        let c = convert(&file(
            "/v1/completions",
            json!({"model": "m", "stream": true}),
            json!({"body": [wrap("openai.types.x.X", json!("hi"))], "is_streaming": true}),
        ))
        .unwrap();
        let stream = c.recording.response.stream.unwrap();
        assert_eq!(
            recorder_runtime::stream::to_wire(stream.format, &stream.frames),
            b"data: \"hi\"\n\ndata: [DONE]\n\n"
        );
        // Ollama's /api/ps and /api/tags never stream.
        let e = convert(&file(
            "/api/ps",
            json!({}),
            json!({"body": [], "is_streaming": true}),
        ))
        .unwrap_err();
        assert!(matches!(e, Skip::Invalid(_)), "{e}");
        // A model list that recorded an error is still a shared model list.
        let c = convert(&file("/v1/models", json!({}), json!({"body": null, "is_streaming": false, "is_exception": true, "exception_data": {"status_code": 401, "body": {"message": "no key"}}}))).unwrap();
        assert_eq!(
            (c.kind, c.is_model_list(), c.recording.response.status),
            (Kind::Error, true, 401)
        );
    }

    #[test]
    fn completions_and_embeddings() {
        let data = json!({"id": "rec-x", "object": "text_completion", "choices": [{"text": "4"}]});
        let c = convert(&file("/v1/completions", json!({"model": "m", "prompt": "2+2="}), json!({"body": wrap("openai.types.completion.Completion", data.clone()), "is_streaming": false}))).unwrap();
        assert_eq!(c.recording.response.body, Some(data));
        let c = convert(&file("/v1/completions", json!({"model": "m", "prompt": "2+2=", "stream": true}), json!({"body": [wrap("openai.types.completion.Completion", json!({"choices": [{"text": "4"}]}))], "is_streaming": true}))).unwrap();
        assert_eq!(c.recording.response.stream.unwrap().frames.len(), 2);
        let data = json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}], "model": "e"});
        let c = convert(&file("/v1/embeddings", json!({"model": "e", "input": "x", "encoding_format": "float"}), json!({"body": wrap("openai.types.create_embedding_response.CreateEmbeddingResponse", data.clone()), "is_streaming": false}))).unwrap();
        assert_eq!(c.recording.response.body, Some(data));
        assert_eq!(c.recording.request.endpoint, "/v1/embeddings");
    }

    #[test]
    fn model_lists_are_get_shared_and_wrapped() {
        let items = vec![
            json!({"id": "gpt-4", "object": "model", "created": 1686588896, "owned_by": "openai"}),
            json!({"id": "gpt-3.5-turbo", "object": "model", "created": 1677610602, "owned_by": "openai"}),
        ];
        let body: Vec<Value> = items
            .iter()
            .map(|i| wrap("openai.types.model.Model", i.clone()))
            .collect();
        let c = convert(&file(
            "/v1/models",
            json!({}),
            json!({"body": body, "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::ModelList);
        let r = &c.recording;
        assert_eq!(r.test_id, None);
        assert_eq!(
            (
                r.request.method.as_str(),
                &r.request.body,
                r.request.model.as_deref()
            ),
            ("GET", &Value::Null, None)
        );
        assert_eq!(
            r.response.body,
            Some(json!({"object": "list", "data": items}))
        );
        assert_eq!(
            c.hash,
            RequestIdentity::new("GET", "/v1/models", b"", &[], None).hash()
        );
    }

    #[test]
    fn extra_body_and_extra_query_go_where_the_sdk_puts_them() {
        let c = convert(&file(
            "/v1/models",
            json!({"extra_query": {"project_id": "p 1/2"}}),
            json!({"body": [], "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(
            c.recording.request.endpoint,
            "/v1/models?project_id=p%201%2F2"
        );
        assert_eq!(c.recording.test_id, None, "still a shared model list");
        let body =
            json!({"model": "m", "messages": [], "extra_body": {"project_id": "p"}, "timeout": 30});
        let c = convert(&file(
            "/v1/chat/completions",
            body,
            json!({"body": wrap(COMPLETION, json!({})), "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(
            c.recording.request.body,
            json!({"model": "m", "messages": [], "project_id": "p"})
        );
        let c = convert(&file(
            "/v1/chat/completions",
            json!({"model": "m", "extra_body": {}}),
            json!({"body": wrap(COMPLETION, json!({})), "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(c.recording.request.body, json!({"model": "m"}));
    }

    #[test]
    fn ollama_ps_and_tags() {
        let data = json!({"models": [{"model": "llama3.2:3b", "name": "llama3.2:3b", "size": 3367856128u64}]});
        let c = convert(&file("/api/ps", json!({}), json!({"body": wrap("ollama._types.ProcessResponse", data.clone()), "is_streaming": false}))).unwrap();
        assert_eq!(c.kind, Kind::Plain);
        let r = &c.recording;
        assert_eq!(
            (
                r.request.method.as_str(),
                &r.request.body,
                r.test_id.as_deref()
            ),
            ("GET", &Value::Null, Some(TEST))
        );
        assert_eq!(r.response.body, Some(data.clone()));
        assert_eq!(
            c.hash,
            RequestIdentity::new("GET", "/api/ps", b"", &[], Some(TEST)).hash()
        );
        let c = convert(&file("/api/tags", json!({}), json!({"body": wrap("ollama._types.ListResponse", data.clone()), "is_streaming": false}))).unwrap();
        assert_eq!(
            (
                c.kind,
                c.recording.test_id.clone(),
                c.recording.response.body.clone()
            ),
            (Kind::ModelList, None, Some(data))
        );
    }

    #[test]
    fn errors_keep_status_and_rebuild_the_wire_body() {
        let exc = |body: Value, status: Value| json!({"body": null, "is_streaming": false, "is_exception": true, "exception_data": {"category": "provider_sdk", "provider": "openai", "type": "BadRequestError", "message": "Error code: 400 - ...", "status_code": status, "body": body}, "exception_message": "Error code: 400 - ..."});
        let req = json!({"model": "m", "messages": [], "stream": true});
        let inner =
            json!({"message": "bad", "type": "invalid_request_error", "param": null, "code": "x"});
        let c = convert(&file(
            "/v1/chat/completions",
            req.clone(),
            exc(inner.clone(), json!(400)),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::Error);
        let r = &c.recording.response;
        assert_eq!(
            (r.status, r.content_type.as_deref(), r.stream.is_none()),
            (400, Some("application/json"), true)
        );
        assert_eq!(
            r.body,
            Some(json!({"error": inner})),
            "the SDK unwrapped `error`: wrapped back"
        );
        let c = convert(&file(
            "/v1/chat/completions",
            req.clone(),
            exc(json!({"error": "model not found"}), json!(404)),
        ))
        .unwrap();
        assert_eq!(
            (c.recording.response.status, c.recording.response.body),
            (404, Some(json!({"error": "model not found"})))
        );
        let c = convert(&file(
            "/v1/chat/completions",
            req.clone(),
            exc(json!("{\"error\":{\"message\":\"m\"}}"), json!(422)),
        ))
        .unwrap();
        assert_eq!(
            c.recording.response.body,
            Some(json!({"error": {"message": "m"}})),
            "a JSON string is parsed"
        );
        let c = convert(&file(
            "/v1/chat/completions",
            req,
            exc(json!("upstream timed out"), Value::Null),
        ))
        .unwrap();
        assert_eq!(c.recording.response.status, 500);
        assert_eq!(
            c.recording.response.body,
            Some(json!({"error": {"message": "Error code: 400 - ...", "type": "BadRequestError"}}))
        );
    }

    #[test]
    fn skips_say_why() {
        let ok = json!({"body": wrap(COMPLETION, json!({})), "is_streaming": false});
        let e = convert(&file("/v1/audio/speech", json!({"model": "m"}), ok.clone())).unwrap_err();
        assert_eq!(
            e,
            Skip::UnsupportedEndpoint {
                endpoint: "/v1/audio/speech".into()
            }
        );
        assert!(
            e.to_string()
                .starts_with("unsupported endpoint /v1/audio/speech"),
            "{e}"
        );
        let e = convert(&file("/v1/chat/completions", json!({"model": "m"}), json!({"body": wrap("anthropic.types.message.Message", json!({})), "is_streaming": false}))).unwrap_err();
        assert_eq!(
            e,
            Skip::ProviderType {
                type_name: "anthropic.types.message.Message".into()
            }
        );
        assert!(
            e.to_string()
                .contains("unsupported provider type anthropic.types.message.Message"),
            "{e}"
        );
        let e = convert(&file(
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
            json!({"body": [wrap("google.genai.types.Chunk", json!({}))], "is_streaming": true}),
        ))
        .unwrap_err();
        assert!(matches!(e, Skip::ProviderType { .. }), "{e}");
        assert!(matches!(
            convert(&json!({"a": 1})).unwrap_err(),
            Skip::Invalid(_)
        ));
    }

    #[test]
    fn responses_streams_name_their_events_and_end_without_done() {
        let events = [
            "response.created",
            "response.output_text.delta",
            "response.completed",
        ]
        .iter()
        .map(|t| {
            wrap(
                "openai.types.responses.response_stream_event.ResponseStreamEvent",
                json!({"type": t, "response": {"id": "resp_1a2b3c4d"}}),
            )
        })
        .collect::<Vec<_>>();
        let c = convert(&file(
            "/v1/responses",
            json!({"model": "m", "input": "hi", "stream": true}),
            json!({"body": events, "is_streaming": true}),
        ))
        .unwrap();
        let frames = &c.recording.response.stream.as_ref().unwrap().frames;
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].event.as_deref(), Some("response.created"));
        assert_eq!(frames[2].event.as_deref(), Some("response.completed"));
    }
}
