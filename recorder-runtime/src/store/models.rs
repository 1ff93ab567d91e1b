//! The shared model lists (`GET /v1/models`, `GET /api/tags`): recorded without a
//! test id, one file per distinct model set under `_models/`, and merged on replay
//! (the union by model id, sorted) so that runs against different servers combine,
//! whatever their query (watsonx lists `GET /v1/models?project_id=...`).

use super::layout::{entries, MODELS_DIR};
use super::{Replay, Store};
use crate::error::Result;
use crate::identity::sha256_hex;
use crate::recording::{RecordedResponse, Recording};
use serde_json::Value;
use std::path::{Path, PathBuf};

impl Store {
    /// Every recorded model list for a request hash.
    pub fn model_lists(&self, hash: &str) -> Result<Vec<(PathBuf, Recording)>> {
        let dir = self.root.join(MODELS_DIR);
        let prefix = format!("models-{hash}-");
        let mut out = Vec::new();
        for entry in entries(&dir, "cannot read model lists")? {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with(&prefix) && name.ends_with(".json") {
                out.push((path.clone(), self.read_recording(&path)?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Every recorded model list at the path of a model-list `endpoint`, whatever its
    /// query ([`model_list_key`]), sorted by file.
    pub fn model_lists_at(&self, endpoint: &str) -> Result<Vec<(PathBuf, Recording)>> {
        let key = model_list_key(endpoint);
        let mut out = Vec::new();
        for entry in entries(&self.root.join(MODELS_DIR), "cannot read model lists")? {
            let path = entry.path();
            if model_list_file_hash(&path).is_none() {
                continue;
            }
            let rec = self.read_recording(&path)?;
            if rec.request.method.eq_ignore_ascii_case("GET")
                && model_list_key(&rec.request.endpoint) == key
            {
                out.push((path, rec));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The merged model list for a model-list `endpoint`: the union by model id of
    /// every list recorded at its path, whatever their query (a list recorded with
    /// `?project_id=...` merges with the plain one), sorted, in the endpoint's own
    /// shape, and the request hashes of the lists merged. `None` when nothing is recorded.
    pub fn merged_model_list(&self, endpoint: &str) -> Result<Option<MergedModelList>> {
        let lists = self.model_lists_at(endpoint)?;
        let mut hashes: Vec<String> = lists
            .iter()
            .filter_map(|(p, _)| model_list_file_hash(p))
            .collect();
        hashes.dedup();
        Ok(merge_model_lists(lists).map(|replay| MergedModelList { replay, hashes }))
    }
}

/// The model lists of one path merged (see [`Store::merged_model_list`]).
#[derive(Debug)]
pub struct MergedModelList {
    /// The merged list, ready to serve.
    pub replay: Replay,
    /// The request hashes of the recorded lists it merges: a replay uses each of them.
    pub hashes: Vec<String>,
}

/// What model lists merge by: the endpoint's path without its query or a trailing `/`.
///
/// ```
/// use recorder_runtime::store::model_list_key;
/// assert_eq!(model_list_key("/v1/models?project_id=p"), "/v1/models");
/// assert_eq!(model_list_key("/api/tags/"), "/api/tags");
/// ```
pub fn model_list_key(endpoint: &str) -> &str {
    endpoint
        .split('?')
        .next()
        .unwrap_or(endpoint)
        .trim_end_matches('/')
}

/// The request hash in a model list's file name (`models-<hash>-<digest8>.json`).
fn model_list_file_hash(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("models-")?.strip_suffix(".json")?;
    let (hash, digest) = rest.split_once('-')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(hash, 64) && hex(digest, 8)).then(|| hash.to_owned())
}

/// Merges model lists (see [`Store::merged_model_list`]).
pub fn merge_model_lists(lists: Vec<(PathBuf, Recording)>) -> Option<Replay> {
    let (first_path, first) = lists.first()?.clone();
    let ok: Vec<_> = lists
        .iter()
        .filter(|(_, r)| r.response.status < 400)
        .collect();
    if ok.is_empty() {
        return Some(Replay::from_recording(first, first_path));
    }
    let ollama = first.request.endpoint.starts_with("/api/");
    let mut by_id: std::collections::BTreeMap<String, Value> = Default::default();
    for (_, rec) in &ok {
        for item in model_items(&rec.response) {
            by_id.entry(model_id(item)).or_insert_with(|| item.clone());
        }
    }
    let items: Vec<Value> = by_id.into_values().collect();
    let body = if ollama {
        serde_json::json!({ "models": items })
    } else {
        serde_json::json!({ "object": "list", "data": items })
    };
    let (path, rec) = ok[0];
    let mut merged = (*rec).clone();
    merged.response = RecordedResponse::plain(
        200,
        Some("application/json"),
        &serde_json::to_vec(&body).expect("json"),
    );
    Some(Replay::from_recording(merged, path.clone()))
}

/// The items of a model-list body (`data` for OpenAI, `models` for Ollama, or a bare list).
pub fn model_items(resp: &RecordedResponse) -> Vec<&Value> {
    match &resp.body {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(map)) => map
            .get("data")
            .or_else(|| map.get("models"))
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn model_id(item: &Value) -> String {
    ["id", "name", "model"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| item.to_string())
}

/// First 8 hex of the sha256 of the sorted model ids, one per line.
pub fn model_set_digest(resp: &RecordedResponse) -> String {
    let mut ids: Vec<String> = model_items(resp).into_iter().map(model_id).collect();
    ids.sort();
    ids.dedup();
    sha256_hex(ids.join("\n").as_bytes())[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::rec;
    use crate::store::ReplayBody;
    use serde_json::json;

    #[test]
    fn model_lists_merge_by_id_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let a = rec(
            None,
            "/v1/models",
            json!({"object": "list", "data": [{"id": "b", "object": "model"}, {"id": "a", "object": "model"}]}),
        );
        let b = rec(
            None,
            "/v1/models",
            json!({"object": "list", "data": [{"id": "c", "object": "model"}, {"id": "a", "object": "model"}]}),
        );
        let hash = "c".repeat(64);
        let key = crate::store::RecordingKey::first(hash.as_str());
        let pa = store.write(&a, &key).unwrap();
        let pb = store.write(&b, &key).unwrap();
        assert_ne!(pa, pb, "one file per model set");
        assert_eq!(store.write(&a, &key).unwrap(), pa, "same set, same file");
        let merged = store.merged_model_list("/v1/models").unwrap().unwrap();
        let ReplayBody::Full(body) = merged.replay.body else {
            panic!()
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        let ids: Vec<_> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(v["object"], "list");
    }

    #[test]
    fn model_lists_merge_whatever_their_query() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let list = |endpoint: &str, id: &str| {
            let rec = rec(
                None,
                endpoint,
                json!({"object": "list", "data": [{"id": id, "object": "model"}]}),
            );
            let hash = rec.request_hash();
            store
                .write(&rec, &crate::store::RecordingKey::first(hash.as_str()))
                .unwrap();
            hash
        };
        let plain = list("/v1/models", "gpt-4o");
        let watsonx = list("/v1/models?project_id=p-1", "ibm/granite-3-8b-instruct");
        list("/api/tags", "llama3:8b");
        for asked in [
            "/v1/models",
            "/v1/models?project_id=p-1",
            "/v1/models?other=1",
        ] {
            let merged = store.merged_model_list(asked).unwrap().unwrap();
            let ReplayBody::Full(body) = &merged.replay.body else {
                panic!()
            };
            let v: Value = serde_json::from_slice(body).unwrap();
            let ids: Vec<_> = v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, ["gpt-4o", "ibm/granite-3-8b-instruct"], "{asked}");
            let mut expected = vec![plain.clone(), watsonx.clone()];
            expected.sort();
            let mut hashes = merged.hashes.clone();
            hashes.sort();
            assert_eq!(hashes, expected, "{asked}: every merged list is used");
        }
        assert!(store.merged_model_list("/v1/other").unwrap().is_none());
    }

    #[test]
    fn ollama_tags_merge_in_their_shape() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = "d".repeat(64);
        let key = crate::store::RecordingKey::first(hash.as_str());
        store
            .write(
                &rec(
                    None,
                    "/api/tags",
                    json!({"models": [{"name": "llama3:8b"}]}),
                ),
                &key,
            )
            .unwrap();
        store
            .write(
                &rec(
                    None,
                    "/api/tags",
                    json!({"models": [{"name": "all-minilm"}]}),
                ),
                &key,
            )
            .unwrap();
        let ReplayBody::Full(body) = store
            .merged_model_list("/api/tags")
            .unwrap()
            .unwrap()
            .replay
            .body
        else {
            panic!()
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"models": [{"name": "all-minilm"}, {"name": "llama3:8b"}]})
        );
    }
}
