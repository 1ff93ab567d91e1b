//! Images in chat messages: OpenAI's content parts, the image as a `data:` URI
//! (`Message::with_parts`, `ContentPart::image_data`), the image a PNG made by the
//! test (`examples::solid_png`).
//!
//! FAKE-BACKED: recorded against recorder-testkit's fake upstream (the `fake` setup,
//! this `vision` suite's default), not a vision model. No vision model small enough
//! installs offline here (no PyPI package ships a small one: llama-cpp-python could
//! serve one with its `mtmd` chat handler and an mmproj, but there is no small GGUF
//! pair to give it). The fake speaks the real wire format: it decodes the data URI,
//! checks the image (a broken one gets OpenAI's 400), and "sees" what it can without
//! a model, a PNG's size and average colour. The recordings therefore show the
//! request exactly as a vision model receives it, and the answers are the fake's.
//! The assertions hold for a real vision model too (`RECORDER_SETUP=gpt` uses gpt-4o).
//!
//! Re-record: `scripts/backends.sh start fake`, then
//! `RECORD_MODE=record cargo test -p examples --test vision`.

use examples::solid_png;
use recorder_runtime::client::{ChatRequest, ContentPart, Message};
use recorder_runtime::{recorded_test, Client, Error, Model};

fn look(model: &Model, question: &str, mime: &str, image: &[u8]) -> ChatRequest {
    ChatRequest::new(model.id())
        .message(Message::with_parts(
            "user",
            vec![
                ContentPart::text(question),
                ContentPart::image_data(mime, image),
            ],
        ))
        .max_tokens(48)
        .temperature(0.0)
        .seed(42)
}

/// The model is asked the colour of two images, one red and one blue, in the same
/// words: the image is the only difference between the two requests, so they are two
/// recordings, and each answer names its own image's colour.
#[recorded_test(models = "vision")]
async fn names_the_colour_of_an_image(client: Client, vision_model: Model) {
    let question = "What colour is this image? Answer with one word.";
    for (rgb, colour, other) in [
        ([220, 20, 20], "red", "blue"),
        ([20, 20, 220], "blue", "red"),
    ] {
        let png = solid_png(16, 16, rgb);
        let answer = client
            .chat(&look(&vision_model, question, "image/png", &png))
            .await
            .unwrap();
        assert_eq!(answer.choices[0].message.role, "assistant");
        let text = answer.text().to_lowercase();
        assert!(text.contains(colour), "{colour} image: {text:?}");
        assert!(!text.contains(other), "{colour} image: {text:?}");
    }
}

/// A PNG cut in half is refused with a 400 that says the image is the problem, and
/// the refusal replays as the same error.
#[recorded_test(models = "vision")]
async fn refuses_a_broken_image(client: Client, vision_model: Model) {
    let mut png = solid_png(8, 8, [20, 200, 20]);
    png.truncate(png.len() / 2);
    let err = client
        .chat(&look(
            &vision_model,
            "What is in this image?",
            "image/png",
            &png,
        ))
        .await
        .unwrap_err();
    match err {
        Error::Api { status, body, .. } => {
            assert_eq!(status, 400, "{body}");
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
            let message = body["error"]["message"].as_str().unwrap_or("");
            assert!(message.to_lowercase().contains("image"), "{message}");
        }
        other => panic!("expected the API's 400, got {other}"),
    }
}
