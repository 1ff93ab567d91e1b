//! The control endpoint of `cargo recordings serve`: a test runner says which test is
//! running, for the requests that carry no `X-Recorder-Test-Id` (a third-party service
//! that does not forward it), one test at a time.
//!
//! ```text
//! POST /_recorder/begin  {"test_id": "tests/test_chat.py::test_answers"}
//!   200 {"test_id": "...", "mode": "replay"}
//!   409 another test is running (a parallel runner fails loudly), 400 an unusable id
//! POST /_recorder/end    {"test_id": "tests/test_chat.py::test_answers"}   ({} ends whatever runs)
//!   200 {"test_id": "...", "replayed": 3, "recorded": 0, "live": 0, "missed": 1, "problems": ["no recording for ..."]}
//!   409 no test is running, or another one is
//! ```
//!
//! Requests with the header still go to their own test. The endpoint answers what the
//! rest of the proxy answers (loopback `Host`, no foreign `Origin`, see
//! [`crate::proxy`]), and only `POST` with `Content-Type: application/json`: a web page
//! cannot send that across origins without a preflight, which the recorder never
//! answers. Errors have the OpenAI error shape of every other refusal
//! ([`crate::error::error_body`]).

use crate::error::error_body;
use crate::registry::{ControlError, Registry};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// The path prefix of the control endpoint.
pub const PREFIX: &str = "/_recorder/";

/// The largest control request body read.
pub const MAX_BODY_BYTES: usize = 64 << 10;

/// Answers one control request (`path` starts with [`PREFIX`]): status and JSON body.
pub(crate) async fn handle(
    recorder: &Arc<Registry>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let action = path
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    if !matches!(action, "begin" | "end") {
        return refused(
            StatusCode::NOT_FOUND,
            &format!(
                "{path} is not a control action of the recorder: POST {PREFIX}begin or {PREFIX}end"
            ),
        );
    }
    if method != Method::POST {
        return refused(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{PREFIX}{action} takes POST, not {method}"),
        );
    }
    let json_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("{PREFIX}{action} takes a JSON body with Content-Type: application/json, such as {{\"test_id\": \"tests/test_chat.py::test_answers\"}}"),
        );
    }
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    &format!("{PREFIX}{action} takes a JSON object such as {{\"test_id\": \"tests/test_chat.py::test_answers\"}}"),
                )
            }
        }
    };
    let test_id = match body.get("test_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => {
            return refused(
                StatusCode::BAD_REQUEST,
                &format!("test_id must be a string, not {other}"),
            )
        }
    };
    let recorder = recorder.clone();
    if action == "begin" {
        let Some(test_id) = test_id else {
            return refused(
                StatusCode::BAD_REQUEST,
                &format!("{PREFIX}begin needs the test's id: {{\"test_id\": \"tests/test_chat.py::test_answers\"}}"),
            );
        };
        // A test that begins again first finishes its earlier scope, which may wait.
        let begun = tokio::task::spawn_blocking(crate::engine::blocking(move || {
            recorder
                .begin(&test_id)
                .map(|s| (s.test_id().to_owned(), s.mode()))
        }))
        .await;
        return match begun {
            Ok(Ok((test_id, mode))) => ok(json!({"test_id": test_id, "mode": mode.as_str()})),
            Ok(Err(e)) => control_error(&e),
            Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
    }
    // Waits for recordings in progress: off the async workers.
    let ended = tokio::task::spawn_blocking(crate::engine::blocking(move || recorder.end(test_id.as_deref()))).await;
    match ended {
        Ok(Ok(ended)) => {
            if let Some(warning) = &ended.warning {
                eprintln!("recorder: warning: {warning}");
            }
            let c = ended.counts;
            ok(json!({
                "test_id": ended.test_id,
                "replayed": c.replayed,
                "recorded": c.recorded,
                "live": c.live,
                "missed": c.missed,
                "problems": ended.problems,
            }))
        }
        Ok(Err(e)) => control_error(&e),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn ok(body: Value) -> (StatusCode, Vec<u8>) {
    (
        StatusCode::OK,
        serde_json::to_vec(&body).expect("a JSON value serializes"),
    )
}

fn control_error(e: &ControlError) -> (StatusCode, Vec<u8>) {
    match e {
        ControlError::Conflict(m) => (
            StatusCode::CONFLICT,
            error_body("recorder_test_conflict", m),
        ),
        ControlError::Invalid(m) => refused(StatusCode::BAD_REQUEST, m),
    }
}

fn refused(status: StatusCode, message: &str) -> (StatusCode, Vec<u8>) {
    (status, error_body("recorder_control", message))
}
