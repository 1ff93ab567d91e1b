//! Many upstreams per test: a setup's named upstreams (`upstreams = { ... }`
//! in `recorder.toml`), each reached at `ctx.upstream_url(NAME)`, each with its own key,
//! auth and headers. One test records its model API and two upstreams into its one
//! folder, under endpoints that name the upstream (`/up/NAME/...`), never its URL, and
//! replays them with every server stopped.

use crate::fake_support::*;
use recorder_runtime::engine::{Auth, Target, Upstream};
use recorder_runtime::Mode;
use recorder_testkit::fake::{FakeUpstream, KeyIn};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

const MODEL_VAR: &str = "UPSTREAMS_TEST_MODEL_KEY";
const MODEL_KEY: &str = "sk-model-key-0123456789abcdef";
const SEARCH_VAR: &str = "UPSTREAMS_TEST_SEARCH_KEY";
const SEARCH_KEY: &str = "tvly-search-key-9876543210zyxw";
const SECOND_VAR: &str = "UPSTREAMS_TEST_SECOND_KEY";
const SECOND_KEY: &str = "sk-second-provider-key-55aa55aa";

/// Every byte under `dir`, for "appears nowhere".
fn everything(dir: &Path) -> String {
    files(dir)
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The setup `agent`: a model API with its own bearer key and header, an upstream
/// `search` whose key goes in `x-api-key` (with a header of its own), and an upstream
/// `second` (another provider) with a bearer key. The keys come from the setup's `env`,
/// as a test reads them (no `set_var`).
fn agent(model: &FakeUpstream, search: &FakeUpstream, second: &FakeUpstream) -> Target {
    Target {
        setup: Some("agent".into()),
        base_url: Some(model.openai_url()),
        api_key_env: Some(MODEL_VAR.into()),
        headers: pairs(&[("x-model-only", "m")]),
        env: pairs(&[
            (MODEL_VAR, MODEL_KEY),
            (SEARCH_VAR, SEARCH_KEY),
            (SECOND_VAR, SECOND_KEY),
        ]),
        upstreams: [
            (
                "search".to_string(),
                Upstream {
                    api_key_env: Some(SEARCH_VAR.into()),
                    auth: Auth::Header("x-api-key".into()),
                    headers: pairs(&[("x-search-client", "rec")]),
                    ..Upstream::new(search.openai_url())
                },
            ),
            (
                "second".to_string(),
                Upstream {
                    api_key_env: Some(SECOND_VAR.into()),
                    ..Upstream::new(second.url())
                },
            ),
        ]
        .into(),
        ..Default::default()
    }
}

/// What the test does: a chat on the model API, embeddings from `search`, a streamed
/// chat from `second`. Returns what the client got: the model's answer, the vector,
/// the streamed text.
async fn conversation(ctx: &recorder_runtime::RecordingContext) -> (Value, Value, String) {
    let http = http();
    let chat =
        json!({"model": "fake-chat", "messages": [{"role": "user", "content": "plan a trip"}]});
    let resp = http
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "model API");
    let answer: Value = resp.json().await.unwrap();

    let resp = http
        .post(format!("{}/embeddings", ctx.upstream_url("search")))
        .json(&json!({"model": "fake-embed", "input": "weather in Paris"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "search");
    let vector: Value = resp.json().await.unwrap();

    let streamed = json!({"model": "fake-chat", "stream": true, "messages": [{"role": "user", "content": "second opinion"}]});
    let resp = http
        .post(format!(
            "{}/v1/chat/completions",
            ctx.upstream_url("second")
        ))
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "second");
    let text = chat_text(&sse_data(&resp.text().await.unwrap()));
    (
        answer["choices"][0]["message"]["content"].clone(),
        vector["data"][0]["embedding"].clone(),
        text,
    )
}

#[tokio::test]
async fn two_upstreams_record_into_one_folder_each_with_its_own_key_and_replay_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (model, search, second) = (
        FakeUpstream::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
    );
    // Each answers 401 without its own key, where its API expects it.
    model.require_key(Some((KeyIn::Bearer, MODEL_KEY)));
    search.require_key(Some((KeyIn::Header("x-api-key".into()), SEARCH_KEY)));
    second.require_key(Some((KeyIn::Bearer, SECOND_KEY)));
    let id = "upstreams::agent::plans";
    let target = agent(&model, &search, &second);

    let rec = ctx(id, Mode::Record, dir.path(), target.clone());
    let url = rec.upstream_url("search");
    assert!(
        url.starts_with(&rec.ollama_url()) && url.ends_with("/up/search"),
        "the upstream's URL is under the test's own unguessable prefix, no trailing /: {url}"
    );
    let recorded = conversation(&rec).await;
    assert_clean(&rec);
    assert!(!recorded.0.is_null() && recorded.1.is_array() && !recorded.2.is_empty());

    // Each upstream got its own key and headers, and nothing of the others'.
    let seen = |fake: &FakeUpstream| {
        let requests = fake.requests();
        assert_eq!(requests.len(), 1, "one request each");
        requests.into_iter().next().unwrap()
    };
    let m = seen(&model);
    assert_eq!(m.path, "/v1/chat/completions");
    assert_eq!(
        m.header("authorization"),
        Some(&*format!("Bearer {MODEL_KEY}"))
    );
    assert_eq!(m.header("x-model-only"), Some("m"));
    assert_eq!(
        (m.header("x-api-key"), m.header("x-search-client")),
        (None, None)
    );
    let s = seen(&search);
    assert_eq!(
        s.path, "/v1/embeddings",
        "/up/search + rest -> its URL + rest"
    );
    assert_eq!(s.header("x-api-key"), Some(SEARCH_KEY));
    assert_eq!(s.header("x-search-client"), Some("rec"));
    assert_eq!(
        (s.header("authorization"), s.header("x-model-only")),
        (None, None)
    );
    let t = seen(&second);
    assert_eq!(t.path, "/v1/chat/completions");
    assert_eq!(
        t.header("authorization"),
        Some(&*format!("Bearer {SECOND_KEY}"))
    );
    assert_eq!(
        (
            t.header("x-api-key"),
            t.header("x-model-only"),
            t.header("x-search-client")
        ),
        (None, None, None)
    );

    // One folder, endpoints naming the upstream, never a URL; no key anywhere on disk.
    let recs = recordings(&rec.scope_dir());
    let mut endpoints: Vec<String> = recs
        .iter()
        .map(|p| {
            read_json(p)["request"]["endpoint"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        [
            "/up/search/embeddings",
            "/up/second/v1/chat/completions",
            "/v1/chat/completions"
        ]
    );
    assert_eq!(
        recordings(dir.path()).len(),
        3,
        "nothing outside the test's folder"
    );
    let disk = everything(dir.path());
    for key in [MODEL_KEY, SEARCH_KEY, SECOND_KEY] {
        assert!(!disk.contains(key), "a key reached disk");
    }
    for fake in [&model, &search, &second] {
        assert!(
            !disk.contains(&fake.addr().to_string()),
            "an upstream's address is in a recording"
        );
    }

    // Replay with every server stopped: the same answers.
    model.stop();
    search.stop();
    second.stop();
    let replay = ctx(id, Mode::Replay, dir.path(), target);
    assert_eq!(conversation(&replay).await, recorded);
    assert_clean(&replay);
    assert_eq!(replay.counts().replayed, 3);
}

#[tokio::test]
async fn moving_an_upstream_changes_no_recording() {
    let dir = tempfile::tempdir().unwrap();
    let id = "upstreams::moved::same_files";
    let run = |fake: &FakeUpstream, mode| {
        let target = Target {
            setup: Some("mcp".into()),
            upstreams: [("tools".to_string(), Upstream::new(fake.url()))].into(),
            ..Default::default()
        };
        ctx(id, mode, dir.path(), target)
    };
    let body = json!({"model": "fake-embed", "input": "same request"});
    let first = FakeUpstream::start();
    let a = run(&first, Mode::Record);
    let resp = http()
        .post(format!("{}/v1/embeddings", a.upstream_url("tools")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_clean(&a);
    let files_a = recordings(dir.path());
    first.stop();
    // The server moved to another port: the request is found as it was.
    let moved = FakeUpstream::start();
    let b = run(&moved, Mode::RecordIfMissing);
    let resp = http()
        .post(format!("{}/v1/embeddings", b.upstream_url("tools")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_clean(&b);
    assert_eq!(b.counts().replayed, 1);
    assert!(
        moved.requests().is_empty(),
        "replayed, not sent to the moved server"
    );
    assert_eq!(recordings(dir.path()), files_a);
}

#[tokio::test]
async fn an_upstream_key_in_the_query_is_sent_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.require_key(Some((KeyIn::Query("key".into()), SEARCH_KEY)));
    let target = Target {
        setup: Some("maps".into()),
        env: pairs(&[(SEARCH_VAR, SEARCH_KEY)]),
        upstreams: [(
            "maps".to_string(),
            Upstream {
                api_key_env: Some(SEARCH_VAR.into()),
                auth: Auth::Query("key".into()),
                ..Upstream::new(fake.openai_url())
            },
        )]
        .into(),
        ..Default::default()
    };
    let rec = ctx("upstreams::query::key", Mode::Record, dir.path(), target);
    let resp = http()
        .get(format!("{}/models?page=2", rec.upstream_url("maps")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_clean(&rec);
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, format!("/v1/models?page=2&key={SEARCH_KEY}"));
    let (_, file) = only_recording(&rec);
    assert_eq!(file["request"]["endpoint"], "/up/maps/models?page=2");
    assert!(!everything(dir.path()).contains(SEARCH_KEY));
}

#[tokio::test]
async fn an_unknown_upstream_fails_naming_the_setups_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    let (model, search, second) = (
        FakeUpstream::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
    );
    let c = ctx(
        "upstreams::unknown::typo",
        Mode::Record,
        dir.path(),
        agent(&model, &search, &second),
    );
    let want = "no upstream `serach` in setup `agent`: it names `search`, `second`";
    let err = c.try_upstream_url("serach").unwrap_err().to_string();
    assert!(err.contains(want), "{err}");
    let c2 = c.clone();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        c2.upstream_url("serach")
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains(want), "{message}");

    // A client that builds the path itself gets a 400 saying the same, and the test
    // fails on it; nothing is sent anywhere or written.
    let resp = http()
        .post(format!("{}up/serach/v1/embeddings", c.ollama_url()))
        .json(&json!({"input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains(want));
    let problems = c.finish();
    assert!(problems.iter().any(|p| p.contains(want)), "{problems:?}");
    assert!(recordings(dir.path()).is_empty());
    for fake in [&model, &search, &second] {
        assert!(fake.requests().is_empty());
    }
}

#[tokio::test]
async fn a_missing_upstream_key_names_the_upstream_and_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let target = Target {
        setup: Some("agent".into()),
        upstreams: [(
            "search".to_string(),
            Upstream {
                api_key_env: Some("UPSTREAMS_TEST_UNSET_KEY".into()),
                ..Upstream::new(fake.openai_url())
            },
        )]
        .into(),
        ..Default::default()
    };
    let c = ctx("upstreams::missing::key", Mode::Record, dir.path(), target);
    let resp = http()
        .post(format!("{}/embeddings", c.upstream_url("search")))
        .json(&json!({"input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let problems = c.finish();
    assert!(
        problems.iter().any(|p| p.contains(
            "the upstream `search` of setup agent needs the API key in $UPSTREAMS_TEST_UNSET_KEY"
        )),
        "{problems:?}"
    );
    assert!(fake.requests().is_empty() && recordings(dir.path()).is_empty());
}
