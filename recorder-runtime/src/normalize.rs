//! Normalization of volatile response fields, applied on record so that
//! re-recording the same exchange gives the same bytes.
//!
//! Ids that a response issues are replaced by stable placeholders by the id map (see
//! [`crate::idmap`]): `chatcmpl-…` becomes `rec-<first 12 hex of the request hash>`,
//! `resp_…` becomes `resp_rec-…`, and so on, anywhere in a body or stream event. A
//! top-level `id` that is not a placeholder after that (too short to look like an
//! id) still becomes `rec-<hash>`, except in model objects (`"object": "model"`),
//! whose id is the model's name, and in JSON-RPC messages (a `"jsonrpc"` member: MCP),
//! whose id is the client's own request id.
//!
//! The timestamps of [`TIMESTAMP_RULES`] are normalized at any depth (a Responses
//! stream event's `response.created_at`, a vector store file's `created_at`), outside
//! `metadata` (the client's own data): a number becomes `0`, a string
//! `1970-01-01T00:00:00.000000Z` ([`EPOCH`]). A model object (`"object": "model"`)
//! describes the model, not the call, and is kept whole.
//! Ollama's durations ([`OLLAMA_DURATIONS`]) become `0`, and so do the counts of
//! [`ID_DERIVED_COUNTS`], which measure server-issued ids.
//!
//! ```
//! use recorder_runtime::normalize::normalize_value;
//! use serde_json::json;
//! let mut v = json!({"id": "c-1", "created": 1712345678, "object": "chat.completion"});
//! normalize_value(&mut v, "0123456789abcdef");
//! assert_eq!(v, json!({"id": "rec-0123456789ab", "created": 0, "object": "chat.completion"}));
//! let mut event = json!({"type": "response.created", "response": {"id": "resp_rec-0123456789ab", "created_at": 1712345678}});
//! normalize_value(&mut event, "0123456789abcdef");
//! assert_eq!(event["response"]["created_at"], 0);
//! let mut answer = json!({"jsonrpc": "2.0", "id": "req-1", "result": {}});
//! normalize_value(&mut answer, "0123456789abcdef");
//! assert_eq!(answer["id"], "req-1");
//! ```

use serde_json::Value;

/// The `created_at` that Ollama timestamps become.
pub const EPOCH: &str = "1970-01-01T00:00:00.000000Z";

/// The timestamp fields normalized, and the APIs that send them.
pub const TIMESTAMP_RULES: &[(&str, &str)] = &[
    ("created", "OpenAI: chat completions and their chunks, completions"),
    ("created_at", "OpenAI Responses (and their stream events), files, vector stores, conversations and items; Ollama"),
    ("completed_at", "OpenAI Responses, batches, vector store file batches"),
    ("expires_at", "OpenAI files, vector stores, uploads; Ollama /api/ps"),
    ("last_active_at", "OpenAI vector stores"),
    ("in_progress_at", "OpenAI batches"),
    ("finalizing_at", "OpenAI batches"),
    ("failed_at", "OpenAI batches, runs"),
    ("cancelled_at", "OpenAI batches, runs"),
    ("started_at", "OpenAI runs"),
];

/// Ollama's durations, in nanoseconds, normalized to `0`.
pub const OLLAMA_DURATIONS: [&str; 4] = [
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
];

/// Counts computed from server-issued ids, normalized to `0` at any depth (outside
/// `metadata`): they change with the random ids, which recordings replace by
/// placeholders, so a re-recording would differ in them alone.
pub const ID_DERIVED_COUNTS: &[(&str, &str)] = &[(
    "metadata_token_count",
    "OGX (Llama Stack) vector store chunks (search results, file_search): the tiktoken \
     tokens of the chunk's metadata, which holds the file's random id",
)];

pub use crate::idmap::normalized_id;

/// Normalizes one body or frame payload in place (see the [module docs](self)).
/// Idempotent.
pub fn normalize_value(v: &mut Value, request_hash: &str) {
    if let Value::Object(map) = v {
        let is_model = map.get("object").and_then(Value::as_str) == Some("model");
        // A JSON-RPC message's id is the client's (MCP): its answer must carry it back.
        let is_jsonrpc = map.contains_key("jsonrpc");
        if !is_model && !is_jsonrpc {
            if let Some(Value::String(id)) = map.get_mut("id") {
                if !crate::idmap::is_placeholder(id) {
                    *id = normalized_id(request_hash);
                }
            }
        }
    }
    normalize_timestamps(v);
}

/// The timestamp and duration rules alone (ids untouched), at any depth.
pub fn normalize_timestamps(v: &mut Value) {
    normalize_nested(v)
}

fn normalize_nested(v: &mut Value) {
    match v {
        Value::Object(map) => {
            // A model object describes the model, not this call: kept whole.
            if map.get("object").and_then(Value::as_str) == Some("model") {
                return;
            }
            for (k, child) in map.iter_mut() {
                if k == "metadata" {
                    continue;
                }
                let timestamp = TIMESTAMP_RULES.iter().any(|(key, _)| key == k);
                if timestamp {
                    match child {
                        Value::String(_) if k != "created" => {
                            *child = Value::String(EPOCH.to_string())
                        }
                        Value::Number(_) => *child = Value::from(0),
                        _ => {}
                    }
                } else if (OLLAMA_DURATIONS.contains(&k.as_str())
                    || ID_DERIVED_COUNTS.iter().any(|(key, _)| key == k))
                    && child.is_number()
                {
                    *child = Value::from(0);
                } else {
                    normalize_nested(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_nested),
        _ => {}
    }
}

/// One recording of a test after [`normalize_scope`]: the name it had, the name it
/// gets (its request may have changed, and with it its hash), and its content.
#[derive(Debug, Clone, PartialEq)]
pub struct Renamed {
    /// The file name it had.
    pub old_name: String,
    /// The file name it gets (`<hash>.json` or `<hash>.<n>.json`).
    pub name: String,
    /// The recording, normalized.
    pub recording: crate::recording::Recording,
}

/// Re-applies the id map and the normalization to the recordings of one test, as if
/// they had been recorded now (what `recordings normalize` and `recordings import`
/// do), and returns every recording with its new name.
///
/// - Ids a response issues that are not placeholders yet (imported recordings, older
///   ones, hand edits) get theirs, and every request of the test that sends them back
///   is rewritten to match.
/// - A placeholder that a later request sends back is derived again from the request
///   that issued it, so that editing that request (and so its hash) keeps the chain.
///   Other placeholders are kept as they are (OGX's own `rec-…` ids among them).
/// - A server-issued id that a request sends back but no answer of the test issued
///   (a partial corpus) gets the placeholder derived from the id itself
///   ([`crate::idmap::derived_placeholder`]), in every request and answer of the test:
///   the one record and replay give it when a request carries it. So does an id that
///   an answer shows only after a request sent it (the answer's own request needs that
///   request first: the answer cannot have issued it).
/// - Requests are processed issuers first; a request made several times keeps its
///   occurrences in their order.
///
/// `files` are `(file name, recording)` of one test folder. An error when two
/// recordings each send back an id the other issued and neither id can be told apart
/// as issued elsewhere (a cycle no recording order explains).
pub fn normalize_scope(
    files: Vec<(String, crate::recording::Recording)>,
) -> crate::Result<Vec<Renamed>> {
    use crate::idmap::{
        contains_token, is_derived_placeholder, is_id_like, is_placeholder, placeholder,
        unknown_sent_back, walk_ids, IdMap,
    };
    use std::collections::{BTreeSet, HashMap};

    struct Item {
        old_name: String,
        key: (crate::identity::RecordingKey, String),
        method: String,
        request_text: String,
        issued: Vec<String>,
        rec: crate::recording::Recording,
    }
    let mut items: Vec<Item> = files
        .into_iter()
        .map(|(old_name, rec)| {
            let request_text = crate::recording::request_text(&rec.request);
            let response = serde_json::to_value(&rec.response).expect("a response is JSON");
            let mut issued: Vec<String> = Vec::new();
            walk_ids(&response, &mut |_, id| {
                if (is_id_like(id) || is_placeholder(id))
                    && !is_derived_placeholder(id)
                    && !contains_token(&request_text, id)
                    && !issued.iter().any(|s| s == id)
                {
                    issued.push(id.to_owned());
                }
            });
            let key = crate::identity::RecordingKey::parse(&old_name)
                .unwrap_or_else(|| crate::identity::RecordingKey::first(old_name.as_str()));
            Item {
                key: (key, old_name.clone()),
                old_name,
                method: rec.request.method.clone(),
                request_text,
                issued,
                rec,
            }
        })
        .collect();
    items.sort_by(|a, b| a.key.cmp(&b.key));

    // Who issued each id: for a placeholder, the recording whose hash it names; else
    // one that created something (not a GET); else the first.
    let mut issuer: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        for s in &item.issued {
            let better = match issuer.get(s) {
                None => true,
                Some(&j) => {
                    let names = |k: usize| {
                        crate::idmap::placeholder_hash(s)
                            .is_some_and(|h| items[k].key.0.hash().starts_with(h))
                    };
                    let creates = |k: usize| items[k].method != "GET";
                    (names(i), creates(i)) > (names(j), creates(j))
                }
            };
            if better {
                issuer.insert(s.clone(), i);
            }
        }
    }
    // Issuers before the recordings that send their ids back. When that is no order
    // (each of two recordings sends back an id the other shows), an id shown by an
    // answer whose request comes after one that sends it was not issued there: it
    // was issued outside these recordings, and the order is sought again without it.
    let order = loop {
        let mut needs: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); items.len()];
        for (j, item) in items.iter().enumerate() {
            for (s, &i) in &issuer {
                if i != j && contains_token(&item.request_text, s) {
                    needs[j].insert(i);
                }
            }
        }
        let mut order = Vec::with_capacity(items.len());
        let mut done = vec![false; items.len()];
        while order.len() < items.len() {
            let Some(next) =
                (0..items.len()).find(|&j| !done[j] && needs[j].iter().all(|&i| done[i]))
            else {
                break;
            };
            done[next] = true;
            order.push(next);
        }
        if order.len() == items.len() {
            break order;
        }
        // One id at a time, those a GET's answer shows first (a listing shows what
        // others issued), then in id order.
        let stuck: Vec<usize> = (0..items.len()).filter(|&j| !done[j]).collect();
        let outside = issuer
            .iter()
            .filter(|(s, &i)| {
                stuck.contains(&i)
                    && stuck
                        .iter()
                        .any(|&j| j != i && contains_token(&items[j].request_text, s))
            })
            .min_by_key(|(s, &i)| (items[i].method != "GET", s.as_str()))
            .map(|(s, _)| s.clone());
        match outside {
            Some(s) => {
                issuer.remove(&s);
            }
            None => {
                return Err(crate::Error::IdCycle(
                    stuck.iter().map(|&j| items[j].old_name.clone()).collect(),
                ))
            }
        }
    };
    let chained: BTreeSet<&String> = issuer
        .iter()
        .filter(|(s, &i)| {
            items
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && contains_token(&other.request_text, s))
        })
        .map(|(s, _)| s)
        .collect();

    // Server-issued ids sent back that no answer here issued: placeholders derived
    // from themselves, everywhere in the test.
    let mut map = IdMap::default();
    for item in &items {
        let body = serde_json::to_vec(&item.rec.request.body).expect("a body is JSON");
        let unknown = unknown_sent_back(&item.rec.request.endpoint, &body, &map);
        for (s, derived) in unknown.iter() {
            if !issuer.contains_key(s) {
                map.insert(s, derived.to_owned());
            }
        }
    }
    let mut asked: HashMap<String, u32> = HashMap::new();
    let mut placed: Vec<Option<(String, u32)>> = vec![None; items.len()];
    for &i in &order {
        let item = &mut items[i];
        map.apply_tokens(&mut item.rec.request.body);
        if let std::borrow::Cow::Owned(e) = map.substitute_tokens(&item.rec.request.endpoint) {
            item.rec.request.endpoint = e;
        }
        let hash = item.rec.request_hash();
        let occ = {
            let n = asked.entry(hash.clone()).or_default();
            *n += 1;
            *n
        };
        let own = item.issued.iter().filter(|s| issuer.get(*s) == Some(&i));
        for (ordinal, s) in own.enumerate() {
            let fresh = placeholder(s, &hash, occ, ordinal);
            let keep = is_placeholder(s) && (!chained.contains(s) || *s == fresh);
            if !keep && *s != fresh {
                map.insert(s, fresh);
            }
        }
        placed[i] = Some((hash, occ));
    }

    Ok(items
        .into_iter()
        .zip(placed)
        .map(|(mut item, placed)| {
            let (hash, occ) = placed.expect("every recording was placed");
            let resp = &mut item.rec.response;
            resp.for_each_json_mut(|v| {
                map.apply_tokens(v);
                normalize_value(v, &hash);
            });
            if let Some(text) = &mut resp.body_text {
                *text = map.substitute_tokens(text).into_owned();
            }
            for value in resp.headers.values_mut() {
                *value = map.substitute_tokens(value).into_owned();
            }
            Renamed {
                old_name: item.old_name,
                name: crate::identity::RecordingKey::new(hash.as_str(), occ).file_name(),
                recording: item.rec,
            }
        })
        .collect())
}

/// Whether a value is already normalized.
pub fn is_normalized(v: &Value, request_hash: &str) -> bool {
    let mut copy = v.clone();
    normalize_value(&mut copy, request_hash);
    &copy == v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: &str = "abcdef0123456789abcdef";

    #[test]
    fn openai_chunk() {
        let mut v = json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 17, "choices": [{"delta": {"tool_calls": [{"id": "call_1"}]}}]});
        normalize_value(&mut v, H);
        assert_eq!(v["id"], "rec-abcdef012345");
        assert_eq!(v["created"], 0);
        assert_eq!(
            v["choices"][0]["delta"]["tool_calls"][0]["id"], "call_1",
            "nested ids are the id map's (crate::idmap)"
        );
        assert!(is_normalized(&v, H));
    }

    #[test]
    fn nested_timestamps_but_not_metadata_nor_placeholders() {
        let mut v = json!({
            "type": "response.completed",
            "response": {"id": "resp_rec-abcdef012345", "created_at": 1_700_000_000, "completed_at": 1_700_000_001,
                         "metadata": {"created_at": "mine"}, "output": [{"created_at": "2025-01-01T00:00:00Z"}]},
        });
        normalize_value(&mut v, H);
        assert_eq!(v["response"]["id"], "resp_rec-abcdef012345");
        assert_eq!(v["response"]["created_at"], 0);
        assert_eq!(v["response"]["completed_at"], 0);
        assert_eq!(v["response"]["metadata"]["created_at"], "mine");
        assert_eq!(v["response"]["output"][0]["created_at"], EPOCH);
    }

    #[test]
    fn model_objects_keep_id_and_created() {
        let mut v = json!({"id": "gpt-4", "object": "model", "created": 1686588896});
        let before = v.clone();
        normalize_value(&mut v, H);
        assert_eq!(v, before);
    }

    #[test]
    fn ollama_fields() {
        let mut v = json!({"model": "llama", "created_at": "2024-05-01T10:00:00.1Z", "total_duration": 5, "load_duration": 1, "prompt_eval_duration": 2, "eval_duration": 3, "eval_count": 9});
        normalize_value(&mut v, H);
        assert_eq!(v["created_at"], EPOCH);
        for k in OLLAMA_DURATIONS {
            assert_eq!(v[k], 0);
        }
        assert_eq!(v["eval_count"], 9, "counts are real data");
    }

    #[test]
    fn counts_of_ids_but_not_other_counts() {
        let mut v = json!({"object": "vector_store.search_results.page", "data": [{
            "file_id": "rec-0123456789ab", "score": 3.58,
            "attributes": {"token_count": 51.0, "metadata_token_count": 66.0},
            "chunk_metadata": {"content_token_count": 51, "metadata_token_count": 66},
            "metadata": {"metadata_token_count": 7}
        }]});
        normalize_value(&mut v, H);
        let result = &v["data"][0];
        assert_eq!(result["attributes"]["metadata_token_count"], 0);
        assert_eq!(result["chunk_metadata"]["metadata_token_count"], 0);
        assert_eq!(
            result["attributes"]["token_count"], 51.0,
            "the text's tokens are real data"
        );
        assert_eq!(result["score"], 3.58);
        assert_eq!(
            result["metadata"]["metadata_token_count"], 7,
            "the client's own metadata"
        );
        assert!(is_normalized(&v, H));
    }

    fn responses_rec(test: &str, body: Value, response: Value) -> crate::recording::Recording {
        crate::recording::Recording {
            test_id: Some(test.into()),
            request: crate::recording::RecordedRequest {
                method: "POST".into(),
                endpoint: "/v1/responses".into(),
                model: None,
                body,
            },
            response: crate::recording::RecordedResponse::plain(
                200,
                Some("application/json"),
                &serde_json::to_vec(&response).unwrap(),
            ),
        }
    }

    #[test]
    fn a_scope_with_raw_ids_gets_placeholders_and_its_chain_follows() {
        let first = responses_rec(
            "t",
            json!({"input": "one"}),
            json!({"id": "resp_raw111111", "created_at": 5, "output": [{"id": "msg_raw222222", "type": "message"}]}),
        );
        let second = responses_rec(
            "t",
            json!({"input": "two", "previous_response_id": "resp_raw111111"}),
            json!({"id": "resp_raw333333", "previous_response_id": "resp_raw111111"}),
        );
        let files = vec![
            ("b.json".to_string(), second),
            ("a.json".to_string(), first),
        ];
        let out = normalize_scope(files).unwrap();
        let one = out.iter().find(|r| r.old_name == "a.json").unwrap();
        let two = out.iter().find(|r| r.old_name == "b.json").unwrap();
        let first_id = one.recording.response.body.as_ref().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            first_id,
            crate::idmap::placeholder("resp_x", &one.recording.request_hash(), 1, 0)
        );
        assert_eq!(
            one.recording.response.body.as_ref().unwrap()["created_at"],
            0
        );
        assert_eq!(
            two.recording.request.body["previous_response_id"],
            first_id.as_str()
        );
        assert_eq!(
            two.recording.response.body.as_ref().unwrap()["previous_response_id"],
            first_id.as_str()
        );
        assert_eq!(
            two.name,
            format!("{}.json", two.recording.request_hash()),
            "renamed after its new request"
        );
        // Normalizing again changes nothing.
        let again = normalize_scope(
            out.iter()
                .map(|r| (r.name.clone(), r.recording.clone()))
                .collect(),
        )
        .unwrap();
        for r in &again {
            assert_eq!(r.name, r.old_name);
            assert_eq!(
                &r.recording,
                &out.iter().find(|o| o.name == r.name).unwrap().recording
            );
        }
    }

    #[test]
    fn an_edited_request_carries_its_chain_along() {
        let first = responses_rec(
            "t",
            json!({"input": "one"}),
            json!({"id": "resp_raw111111"}),
        );
        let second = responses_rec(
            "t",
            json!({"previous_response_id": "resp_raw111111"}),
            json!({"id": "resp_raw333333"}),
        );
        let out =
            normalize_scope(vec![("a.json".into(), first), ("b.json".into(), second)]).unwrap();
        let mut edited: Vec<(String, crate::recording::Recording)> = out
            .iter()
            .map(|r| (r.name.clone(), r.recording.clone()))
            .collect();
        let at = edited
            .iter()
            .position(|(_, r)| r.request.body["input"] == "one")
            .unwrap();
        edited[at].1.request.body["input"] = json!("one, edited");
        let out = normalize_scope(edited).unwrap();
        let one = out
            .iter()
            .find(|r| r.recording.request.body["input"] == "one, edited")
            .unwrap();
        let two = out
            .iter()
            .find(|r| {
                r.recording
                    .request
                    .body
                    .get("previous_response_id")
                    .is_some()
            })
            .unwrap();
        let id = one.recording.response.body.as_ref().unwrap()["id"]
            .as_str()
            .unwrap();
        assert!(id.contains(&one.recording.request_hash()[..12]), "{id}");
        assert_eq!(two.recording.request.body["previous_response_id"], id);
    }

    #[test]
    fn an_id_no_answer_issued_gets_the_placeholder_derived_from_itself() {
        use crate::idmap::{derived_placeholder, is_placeholder};
        use crate::recording::{RecordedRequest, RecordedResponse, Recording};
        let rec = |method: &str, endpoint: &str, body: Value, response: Value| Recording {
            test_id: Some("t".into()),
            request: RecordedRequest {
                method: method.into(),
                endpoint: endpoint.into(),
                model: None,
                body,
            },
            response: RecordedResponse::plain(
                200,
                Some("application/json"),
                &serde_json::to_vec(&response).unwrap(),
            ),
        };
        // The turn that issued `call_…` was left out; the turn that sends it back,
        // and a listing of that turn's input that shows it again, are here.
        let call = "call_9f8e7d6c5b4a";
        let output = json!({"type": "function_call_output", "call_id": call, "output": "18C"});
        let turn = rec(
            "POST",
            "/v1/responses",
            json!({"input": [output.clone()]}),
            json!({"id": "resp_raw555555", "output": []}),
        );
        let listing = rec(
            "GET",
            "/v1/responses/resp_raw555555/input_items",
            Value::Null,
            json!({"object": "list", "data": [output]}),
        );
        let out = normalize_scope(vec![("a.json".into(), listing), ("b.json".into(), turn)])
            .expect("no cycle: the listing did not issue the call id");
        let turn = out.iter().find(|r| r.old_name == "b.json").unwrap();
        let listing = out.iter().find(|r| r.old_name == "a.json").unwrap();
        let derived = derived_placeholder(call);
        assert_eq!(
            turn.recording.request.body["input"][0]["call_id"],
            derived.as_str()
        );
        assert_eq!(
            listing.recording.response.body.as_ref().unwrap()["data"][0]["call_id"],
            derived.as_str(),
            "the answer that shows it lines up"
        );
        // The turn's own answer id is still its own placeholder, which the listing follows.
        let resp_id = turn.recording.response.body.as_ref().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(is_placeholder(&resp_id) && resp_id.contains(&turn.recording.request_hash()[..12]));
        assert_eq!(
            listing.recording.request.endpoint,
            format!("/v1/responses/{resp_id}/input_items")
        );
        // Normalizing again changes nothing.
        let again = normalize_scope(
            out.iter()
                .map(|r| (r.name.clone(), r.recording.clone()))
                .collect(),
        )
        .unwrap();
        for r in &again {
            assert_eq!(r.name, r.old_name);
            let before = &out.iter().find(|o| o.name == r.name).unwrap().recording;
            assert_eq!(&r.recording, before);
        }
    }

    #[test]
    fn non_objects_untouched() {
        let mut v = json!("[DONE]");
        normalize_value(&mut v, H);
        assert_eq!(v, json!("[DONE]"));
    }
}
