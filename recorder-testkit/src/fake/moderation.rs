//! OpenAI's moderation endpoint (`POST /v1/moderations`), with the categories of
//! `omni-moderation-latest`. There is no model: a category scores high when the text
//! has one of a few words for it, and a tiny amount derived from the text otherwise.
//! The shape is the real one: one result per input string (a list of strings gives
//! several; a list of text and image parts gives one), each with `flagged`,
//! `categories`, `category_scores` and `category_applied_input_types`.

use super::text::fnv1a;
use super::{ok_json, openai_error, Body, Call};
use http::{Response, StatusCode};
use serde_json::{json, Map, Value};

/// The categories, with the words that make the fake flag them.
const CATEGORIES: [(&str, &[&str]); 13] = [
    ("harassment", &["idiot", "stupid", "loser"]),
    (
        "harassment/threatening",
        &["i will hurt you", "watch your back"],
    ),
    ("hate", &["inferior race"]),
    ("hate/threatening", &["exterminate them"]),
    ("illicit", &["steal", "counterfeit", "launder"]),
    ("illicit/violent", &["build a bomb", "make a weapon"]),
    ("self-harm", &["hurt myself"]),
    ("self-harm/intent", &["i want to die"]),
    ("self-harm/instructions", &["how to self-harm"]),
    ("sexual", &["explicit sex"]),
    ("sexual/minors", &["minor sexual"]),
    ("violence", &["kill", "murder", "attack", "bomb", "stab"]),
    ("violence/graphic", &["gore", "dismember"]),
];

impl Call<'_> {
    pub(super) fn openai_moderation(&self) -> Response<Body> {
        let model = if self.model.is_empty() {
            "omni-moderation-latest".to_string()
        } else {
            self.model.clone()
        };
        // One result per string; a list of parts is one input of text and images.
        let inputs: Vec<(String, bool)> = match self.body.get("input") {
            Some(Value::String(s)) => vec![(s.clone(), false)],
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .map(|s| (s.as_str().unwrap_or("").to_string(), false))
                .collect(),
            Some(Value::Array(parts)) => {
                let text = parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" ");
                let image = parts
                    .iter()
                    .any(|p| p.get("type").and_then(Value::as_str) == Some("image_url"));
                vec![(text, image)]
            }
            _ => {
                return openai_error(
                    StatusCode::BAD_REQUEST,
                    "'input' is a required property",
                    "invalid_request_error",
                    None,
                )
            }
        };
        let results: Vec<Value> = inputs
            .iter()
            .map(|(text, image)| moderate(text, *image))
            .collect();
        ok_json(&json!({
            "id": self.state.id("modr-"),
            "model": model,
            "results": results,
        }))
    }
}

/// One result for one input.
fn moderate(text: &str, image: bool) -> Value {
    let lower = text.to_lowercase();
    let (mut categories, mut scores, mut applied) = (Map::new(), Map::new(), Map::new());
    let mut flagged = false;
    for (name, words) in CATEGORIES {
        let hit = words.iter().any(|w| lower.contains(w));
        // Low scores still differ by text and category, as a model's would.
        let tiny = (fnv1a(format!("{name}\0{lower}").as_bytes()) % 1000) as f64 * 1e-7 + 1e-6;
        let score = if hit { 0.93 } else { tiny };
        flagged |= hit;
        categories.insert(name.into(), hit.into());
        scores.insert(name.into(), score.into());
        let mut types = vec!["text"];
        if image && (name.starts_with("violence") || name == "sexual" || name == "self-harm") {
            types.push("image");
        }
        applied.insert(name.into(), json!(types));
    }
    json!({
        "flagged": flagged,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_by_category_and_keeps_every_category() {
        let calm = moderate("I like kittens", false);
        assert_eq!(calm["flagged"], false);
        assert_eq!(calm["categories"].as_object().unwrap().len(), 13);
        let violent = moderate("I will kill the process", false);
        assert_eq!(violent["flagged"], true);
        assert_eq!(violent["categories"]["violence"], true);
        assert_eq!(violent["categories"]["hate"], false);
        assert!(violent["category_scores"]["violence"].as_f64().unwrap() > 0.5);
        assert!(violent["category_scores"]["hate"].as_f64().unwrap() < 0.01);
        assert_eq!(
            moderate("x", true)["category_applied_input_types"]["violence"],
            json!(["text", "image"])
        );
    }
}
