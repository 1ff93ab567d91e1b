//! OGX's format for tool-runtime calls: a tool OGX invokes for an agent (e.g. Tavily's
//! `web_search`), recorded at OGX's own tool-runtime interface, not as the provider's
//! HTTP exchange.
//!
//! ```text
//! { "test_id": "tests/integration/responses/test_tool_responses.py::test_x[...]",
//!   "request":  { "test_id": "...", "provider": "tavily", "tool_name": "web_search",
//!                 "kwargs": {"query": "..."} },
//!   "response": { "body": {"__type__": "ogx_api.tools.ToolInvocationResult",
//!                          "__data__": {"content": "...", "error_message": null, ...}},
//!                 "is_streaming": false } }
//! ```
//!
//! The answer is OGX's own reshaping of the provider's, so no provider exchange is
//! invented: each call is imported at a route of the recorder's own,
//! [`ROUTE`]`/<provider>/<tool_name>` (each segment percent-encoded), as a `POST` whose
//! JSON body is the call's `kwargs`, answered with the `ToolInvocationResult` as JSON
//! (`{"content", "error_message", "error_code", "metadata"}`). `recordings serve` answers
//! it in replay like any recording, under the test id in `X-Recorder-Test-Id`:
//!
//! ```sh
//! curl -s http://127.0.0.1:PORT/recorder/tool-runtime/tavily/web_search \
//!   -H 'X-Recorder-Test-Id: tests/integration/responses/test_tool_responses.py::test_x[...]' \
//!   -d '{"query": "Llama 4 Maverick model experts"}'
//! ```
//!
//! No upstream serves this route: it replays, and recording it again needs OGX.
//! A recorded exception replays as an error answer with its status
//! (see the [module docs](super)).
//!
//! ```
//! use recorder_cli::ogx::{convert, Format};
//! use serde_json::json;
//! let c = convert(&json!({
//!     "test_id": "tests/t.py::test_search",
//!     "request": {"test_id": "tests/t.py::test_search", "provider": "tavily",
//!                 "tool_name": "web_search", "kwargs": {"query": "llamas"}},
//!     "response": {"is_streaming": false, "body": {"__type__": "ogx_api.tools.ToolInvocationResult",
//!                  "__data__": {"content": "[]", "error_message": null, "error_code": null, "metadata": null}}}
//! })).unwrap();
//! assert_eq!(c.format, Format::ToolRuntime);
//! assert_eq!(c.recording.request.endpoint, "/recorder/tool-runtime/tavily/web_search");
//! assert_eq!(c.recording.request.body, json!({"query": "llamas"}));
//! assert_eq!(c.recording.response.body.as_ref().unwrap()["content"], "[]");
//! ```

use super::{error_response, is_exception, json_response, percent_encode, Kind, Skip};
use recorder_runtime::recording::{RecordedRequest, Recording};
use serde_json::{Map, Value};

/// The route tool-runtime calls are imported at, followed by `/<provider>/<tool_name>`.
pub const ROUTE: &str = "/recorder/tool-runtime";

/// The `__type__` suffix of the answers imported.
const RESULT_TYPE: &str = "ToolInvocationResult";

/// Converts a tool-runtime call (a file whose `request` has a `tool_name`) made by the
/// test `test_id` (`""`: outside any test).
pub(super) fn convert(
    req: &Map<String, Value>,
    resp: &Map<String, Value>,
    test_id: String,
) -> Result<(Recording, Kind), Skip> {
    let name = |key: &str| {
        req.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Skip::Invalid(format!("a tool-runtime call without `request.{key}`")))
    };
    let (provider, tool) = (name("provider")?, name("tool_name")?);
    let body = match req.get("kwargs") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(kwargs @ Value::Object(_)) => kwargs.clone(),
        Some(other) => {
            return Err(Skip::Invalid(format!(
                "the tool call's `kwargs` is {other}, not an object"
            )))
        }
    };
    let (response, kind) = if is_exception(resp) {
        (error_response(resp), Kind::Error)
    } else {
        let answer = resp
            .get("body")
            .ok_or_else(|| Skip::Invalid("no `response.body`".into()))?;
        let type_name = answer
            .get("__type__")
            .and_then(Value::as_str)
            .ok_or_else(|| Skip::Invalid("a tool-runtime answer without `__type__`".into()))?;
        if !type_name.ends_with(RESULT_TYPE) {
            return Err(Skip::ProviderType {
                type_name: type_name.to_owned(),
            });
        }
        let data = answer
            .get("__data__")
            .cloned()
            .ok_or_else(|| Skip::Invalid(format!("a `{type_name}` without `__data__`")))?;
        (json_response(data), Kind::Plain)
    };
    let recording = Recording {
        test_id: Some(test_id),
        request: RecordedRequest {
            method: "POST".into(),
            endpoint: format!(
                "{ROUTE}/{}/{}",
                percent_encode(provider),
                percent_encode(tool)
            ),
            model: None,
            body,
        },
        response,
    };
    Ok((recording, kind))
}

#[cfg(test)]
mod tests {
    use crate::ogx::{convert, Format, Kind, Skip};
    use serde_json::{json, Value};

    fn file(provider: &str, tool: &str, kwargs: Value, response: Value) -> Value {
        json!({
            "test_id": "tests/t.py::test_x",
            "request": {"test_id": "tests/t.py::test_x", "provider": provider, "tool_name": tool, "kwargs": kwargs},
            "response": response
        })
    }

    #[test]
    fn a_call_is_a_post_of_its_kwargs_at_the_recorders_route() {
        let data = json!({"content": "{\"top_k\": []}", "error_message": null, "error_code": null, "metadata": null});
        let c = convert(&file(
            "tavily",
            "web search/v2",
            json!({"query": "q", "max_results": 3}),
            json!({"body": {"__type__": "ogx_api.tools.ToolInvocationResult", "__data__": data.clone()}, "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!((c.format, c.kind), (Format::ToolRuntime, Kind::Plain));
        let r = &c.recording;
        assert_eq!(
            (r.request.method.as_str(), r.request.endpoint.as_str()),
            ("POST", "/recorder/tool-runtime/tavily/web%20search%2Fv2")
        );
        assert_eq!(r.request.body, json!({"query": "q", "max_results": 3}));
        assert_eq!(r.request.model, None);
        assert_eq!(r.response.body, Some(data));
        assert_eq!(r.test_id.as_deref(), Some("tests/t.py::test_x"));
    }

    #[test]
    fn errors_replay_with_their_status_and_bad_calls_say_why() {
        let c = convert(&file("tavily", "web_search", json!({}), json!({"body": null, "is_exception": true, "exception_data": {"status_code": 401, "message": "bad key", "type": "HTTPError"}}))).unwrap();
        assert_eq!((c.kind, c.recording.response.status), (Kind::Error, 401));
        let e = convert(&file(
            "tavily",
            "web_search",
            json!({}),
            json!({"body": {"__type__": "other.Result", "__data__": {}}}),
        ))
        .unwrap_err();
        assert!(matches!(e, Skip::ProviderType { .. }), "{e}");
        let e = convert(&file("", "web_search", json!({}), json!({"body": {}}))).unwrap_err();
        assert!(e.to_string().contains("without `request.provider`"), "{e}");
        let e = convert(&file(
            "tavily",
            "web_search",
            json!([1]),
            json!({"body": {}}),
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("`kwargs` is [1], not an object"),
            "{e}"
        );
    }
}
