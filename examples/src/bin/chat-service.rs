//! A small chat service that calls models: the code under test of
//! `tests/service.rs`, which drive it over HTTP in server mode.
//!
//! - `POST /chat {"question", "model"?}` asks the text model for a short answer:
//!   `{"answer", "model", "completion_tokens"}`.
//! - `POST /similar {"a", "b", "model"?}` embeds both texts, `b` from a spawned
//!   task, and answers `{"similarity"}` (cosine).
//! - `GET /health` answers `ok`.
//!
//! Configuration, from the environment: `PORT` (3917), `OPENAI_BASE_URL`
//! (`http://127.0.0.1:18080/v1`), `EMBEDDINGS_BASE_URL` (the same as
//! `OPENAI_BASE_URL`), `CHAT_MODEL` (`smollm2-135m`), `EMBEDDING_MODEL`
//! (`multilingual-e5-small-q4`), `OPENAI_API_KEY` (sent as a bearer token when set).
//!
//! What makes it testable with recordings, and changes nothing in production:
//! 1. `TestIdLayer` on the router reads `X-Recorder-Test-Id` from each request
//!    into a task-local;
//! 2. the outbound client has `PropagateMiddleware`, which adds that header to the
//!    model calls made while handling the request;
//! 3. work moved to another task goes through `propagate::spawn`, which carries the
//!    test id along.
//!
//! All three come from the light `recorder-propagate` crate, the only recorder
//! crate the service itself depends on (`recorder-runtime` is for the tests).
//!
//! In tests, `recorder.toml` starts it with its base URLs pointing at the test
//! process's recorder (`[services.chat]`). By hand: `cargo run -p examples --bin
//! chat-service`, then `curl -d '{"question":"Hi"}' -H 'content-type:
//! application/json' localhost:3917/chat`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use recorder_propagate::{self as propagate, PropagateMiddleware, TestIdLayer};
use reqwest_middleware::ClientWithMiddleware;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

struct Settings {
    chat_base: String,
    embeddings_base: String,
    chat_model: String,
    embedding_model: String,
    api_key: Option<String>,
}

#[derive(Clone)]
struct App {
    settings: Arc<Settings>,
    http: ClientWithMiddleware,
}

type Failure = (StatusCode, Json<Value>);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() {
    let chat_base = env_or("OPENAI_BASE_URL", "http://127.0.0.1:18080/v1");
    let settings = Settings {
        embeddings_base: env_or("EMBEDDINGS_BASE_URL", &chat_base),
        chat_base,
        chat_model: env_or("CHAT_MODEL", "smollm2-135m"),
        embedding_model: env_or("EMBEDDING_MODEL", "multilingual-e5-small-q4"),
        api_key: std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
    };
    let port: u16 = env_or("PORT", "3917")
        .parse()
        .expect("PORT is a port number");

    // reqwest is built with rustls and no crypto provider chosen: install one. ring's
    // is deprecated since rustls 0.23.48 (no post-quantum key exchange); a service
    // that needs that installs aws-lc-rs's instead.
    #[allow(deprecated)]
    let ring = rustls::crypto::ring::default_provider();
    let _ = ring.install_default();
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(PropagateMiddleware)
        .build();
    let app = App {
        settings: Arc::new(settings),
        http,
    };

    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/chat", post(chat))
        .route("/similar", post(similar))
        .with_state(app)
        .layer(TestIdLayer);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
    eprintln!("chat-service listening on http://127.0.0.1:{port}");
    axum::serve(listener, router)
        .await
        .expect("the server runs");
}

#[derive(Deserialize)]
struct ChatIn {
    question: String,
    model: Option<String>,
}

async fn chat(State(app): State<App>, Json(input): Json<ChatIn>) -> Result<Json<Value>, Failure> {
    let model = input
        .model
        .unwrap_or_else(|| app.settings.chat_model.clone());
    let body = json!({
        "model": model,
        "messages": [
            { "role": "system", "content": "Answer in one short sentence." },
            { "role": "user", "content": input.question },
        ],
        "max_tokens": 32,
        "temperature": 0.0,
        "seed": 42,
    });
    let out = call(&app, &app.settings.chat_base, "/chat/completions", &body).await?;
    Ok(Json(json!({
        "answer": out["choices"][0]["message"]["content"].as_str().unwrap_or_default(),
        "model": model,
        "completion_tokens": out["usage"]["completion_tokens"],
    })))
}

#[derive(Deserialize)]
struct SimilarIn {
    a: String,
    b: String,
    model: Option<String>,
}

async fn similar(
    State(app): State<App>,
    Json(input): Json<SimilarIn>,
) -> Result<Json<Value>, Failure> {
    let model = input
        .model
        .unwrap_or_else(|| app.settings.embedding_model.clone());
    // `b` is embedded by another task: propagate::spawn keeps its calls in the
    // same test (a plain tokio::spawn would lose the test id).
    let other = propagate::spawn(embed(app.clone(), model.clone(), input.b));
    let a = embed(app, model, input.a).await?;
    let b = other
        .await
        .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(json!({ "similarity": examples::cosine(&a, &b) })))
}

async fn embed(app: App, model: String, text: String) -> Result<Vec<f64>, Failure> {
    let out = call(
        &app,
        &app.settings.embeddings_base,
        "/embeddings",
        &json!({ "model": model, "input": [text] }),
    )
    .await?;
    let vector = out["data"][0]["embedding"]
        .as_array()
        .ok_or_else(|| failure(StatusCode::BAD_GATEWAY, format!("no embedding in {out}")))?;
    Ok(vector.iter().filter_map(Value::as_f64).collect())
}

/// POSTs JSON to the model server; non-2xx answers become 502 with its message.
async fn call(app: &App, base: &str, path: &str, body: &Value) -> Result<Value, Failure> {
    let mut req = app
        .http
        .post(format!("{}{path}", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = &app.settings.api_key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.map_err(|e| {
        failure(
            StatusCode::BAD_GATEWAY,
            format!("the model server is unreachable: {e}"),
        )
    })?;
    let status = resp.status();
    let value: Value = resp.json().await.map_err(|e| {
        failure(
            StatusCode::BAD_GATEWAY,
            format!("the model server answered {status} with a body that is not JSON: {e}"),
        )
    })?;
    if !status.is_success() {
        let message = value["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        return Err(failure(
            StatusCode::BAD_GATEWAY,
            format!("the model server answered {status}: {message}"),
        ));
    }
    Ok(value)
}

fn failure(status: StatusCode, message: String) -> Failure {
    (status, Json(json!({ "error": message })))
}
