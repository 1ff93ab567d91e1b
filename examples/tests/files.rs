//! Files and vector stores: a multipart upload, a vector store that indexes it, a
//! status polled until the file is processed, and a search.
//!
//! Uploads are matched by their parts (names, values, file names, content types, each
//! file's sha256 and size), never by the random multipart boundary, so any client's
//! upload replays. The ids the server issues (`file-…`, `vs_…`) are chained through
//! the later requests the way `resp_…` ids are (see `responses.rs`).
//!
//! Recorded against OGX (the `ogx` setup): `scripts/backends.sh start`, then
//! `RECORD_MODE=record cargo test -p examples --test files`.

use async_openai::config::OpenAIConfig;
use async_openai::types::files::{CreateFileRequest, FileInput, FilePurpose};
use recorder_runtime::{recorded_test, Client, RecordingContext};

const FACTS: &str = "Recorder facts.
The recorder's mascot is a teal heron named Pip.
Recordings are JSON files, one per request, committed with the tests.
Replays never touch the network.
The capital of the fictional country of Lumeria is Brightwater.
";

/// Upload a text file, index it in a vector store, wait until it is processed, and
/// find the right passage by meaning.
///
/// The search goes to the vector store's own endpoint
/// (`POST /v1/vector_stores/{id}/search`). The Responses API's `file_search` tool
/// would do the same inside a model turn, but OGX 1.5.0 with SmolLM2 gives no answer
/// through it (no call when left to the model; a server error when forced).
#[recorded_test]
async fn uploads_indexes_and_searches_a_file(client: Client) {
    let file = client
        .upload_file(
            "assistants",
            "facts.txt",
            "text/plain",
            FACTS.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    assert!(file.id.starts_with("file-"), "{}", file.id);
    assert_eq!(file.bytes, FACTS.len() as u64);
    assert_eq!(file.filename, "facts.txt");

    let store = client
        .create_vector_store("recorder-facts", &[])
        .await
        .unwrap();
    assert!(store.id.starts_with("vs_"), "{}", store.id);

    let added = client
        .add_vector_store_file(&store.id, &file.id)
        .await
        .unwrap();
    assert_eq!(added.id, file.id);
    // Indexing runs in the background on most servers: poll until it is done (20
    // polls at most, 200 ms apart while recording; replayed, the recorded answers
    // come back in order at once). OGX indexes a small file before answering the
    // request above, so its first poll already says `completed`.
    let done = client
        .wait_vector_store_file(&store.id, &file.id, 20)
        .await
        .unwrap();
    assert_eq!(done.status, "completed", "{done:?}");

    let results = client
        .search_vector_store(&store.id, "What colour is the recorder's mascot?")
        .await
        .unwrap();
    let best = results.data.first().expect("at least one result");
    assert_eq!(best.filename, "facts.txt");
    assert!(best.text().contains("teal heron"), "{}", best.text());
    // OGX puts a chunk's own id in `file_id`, and the file's in `attributes`.
    let file_id = best
        .extra
        .get("attributes")
        .and_then(|a| a.get("file_id"))
        .and_then(|v| v.as_str())
        .unwrap_or(&best.file_id);
    assert_eq!(file_id, file.id);

    // Leave the server as it was.
    assert!(client.delete_vector_store(&store.id).await.unwrap().deleted);
    assert!(client.delete_file(&file.id).await.unwrap().deleted);
}

/// The same upload with async-openai, in process; read back its metadata and content.
#[recorded_test]
async fn uploads_with_async_openai(ctx: RecordingContext) {
    let openai = async_openai::Client::with_config(OpenAIConfig::new().with_api_key("unused"))
        .with_http_service(ctx.openai_service());
    let uploaded = openai
        .files()
        .create(CreateFileRequest {
            file: FileInput::from_vec_u8("notes.txt".into(), FACTS.as_bytes().to_vec()),
            purpose: FilePurpose::Assistants,
            expires_after: None,
        })
        .await
        .unwrap();
    assert!(uploaded.id.starts_with("file-"), "{}", uploaded.id);
    assert_eq!(uploaded.bytes, Some(FACTS.len() as u32));

    let fetched = openai.files().retrieve(&uploaded.id).await.unwrap();
    assert_eq!(fetched.id, uploaded.id);
    assert_eq!(fetched.filename, "notes.txt");
    // The content comes back byte for byte (recorded as text, since it is text).
    let content = openai.files().content(&uploaded.id).await.unwrap();
    assert_eq!(content.as_ref(), FACTS.as_bytes());

    let deleted = openai.files().delete(&uploaded.id).await.unwrap();
    assert!(deleted.deleted);
}
