//! The kinds of model a test can ask for (`models = "text,embedding"`).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A kind of model a test can ask for.
///
/// ```
/// use recorder_config::Kind;
///
/// let kind: Kind = "embedding".parse().unwrap();
/// assert_eq!(kind, Kind::Embedding);
/// assert_eq!(kind.as_str(), "embedding");
/// assert_eq!(kind.env_var(), "RECORDER_EMBEDDING_MODELS");
/// assert!("txt".parse::<Kind>().unwrap_err().to_string().contains("text, vision"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Chat and completion models.
    Text,
    /// Models that take images.
    Vision,
    /// Embedding models.
    Embedding,
    /// Rerankers.
    Rerank,
    /// Safety (moderation, guard) models.
    Safety,
    /// Models used to grade other models' answers.
    Judge,
}

impl Kind {
    /// Every kind, in declaration (and sort) order.
    pub const ALL: [Kind; 6] = [
        Kind::Text,
        Kind::Vision,
        Kind::Embedding,
        Kind::Rerank,
        Kind::Safety,
        Kind::Judge,
    ];

    /// The lowercase name used in `recorder.toml`, in `models = "..."` and in test names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Vision => "vision",
            Kind::Embedding => "embedding",
            Kind::Rerank => "rerank",
            Kind::Safety => "safety",
            Kind::Judge => "judge",
        }
    }

    /// The variable that overrides this kind's models, e.g. `RECORDER_TEXT_MODELS`.
    pub const fn env_var(self) -> &'static str {
        match self {
            Kind::Text => "RECORDER_TEXT_MODELS",
            Kind::Vision => "RECORDER_VISION_MODELS",
            Kind::Embedding => "RECORDER_EMBEDDING_MODELS",
            Kind::Rerank => "RECORDER_RERANK_MODELS",
            Kind::Safety => "RECORDER_SAFETY_MODELS",
            Kind::Judge => "RECORDER_JUDGE_MODELS",
        }
    }

    /// The valid names, comma separated, for error messages.
    pub fn valid_names() -> String {
        Kind::ALL.map(Kind::as_str).join(", ")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Kind`]: the name is not one of the six kinds.
///
/// ```
/// let err = "chat".parse::<recorder_config::Kind>().unwrap_err();
/// assert_eq!(err.name, "chat");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseKindError {
    /// What was given.
    pub name: String,
}

impl FromStr for Kind {
    type Err = ParseKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| ParseKindError {
                name: trimmed.to_string(),
            })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl Visitor<'_> for KindVisitor {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a model kind ({})", Kind::valid_names())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(KindVisitor)
    }
}

impl std::fmt::Display for ParseKindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { name } = self;
        write!(f, "unknown model kind `{name}`; valid kinds: text, vision, embedding, rerank, safety, judge")
    }
}

impl std::error::Error for ParseKindError {}
