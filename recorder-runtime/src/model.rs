//! [`Model`]: the model a test is given, with its kind.

/// A model injected into a test: the API's id of the model and its kind.
///
/// `#[recorded_test]` gives one per kind the test asks for, from the setup's
/// `[setups.<name>.models]` or `RECORDER_<KIND>_MODELS`. It dereferences to the
/// id, so it goes wherever a model name does.
///
/// ```
/// use recorder_runtime::Model;
/// let model = Model::new("text", "smollm2-135m");
/// assert_eq!(model.id(), "smollm2-135m");
/// assert_eq!(model.kind(), "text");
/// assert_eq!(model, "smollm2-135m");
/// let name: String = model.clone().into();
/// assert_eq!(format!("model={model}"), format!("model={name}"));
/// assert!(model.starts_with("smollm2")); // through Deref<Target = str>
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Model {
    id: String,
    kind: String,
}

impl Model {
    /// A model of a kind.
    pub fn new(kind: &str, id: &str) -> Self {
        Model {
            id: id.into(),
            kind: kind.into(),
        }
    }
    /// Its id, as the API names it.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Its kind (`text`, `embedding`, ...).
    pub fn kind(&self) -> &str {
        &self.kind
    }
}

impl std::ops::Deref for Model {
    type Target = str;
    fn deref(&self) -> &str {
        &self.id
    }
}
impl AsRef<str> for Model {
    fn as_ref(&self) -> &str {
        &self.id
    }
}
impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}
impl From<Model> for String {
    fn from(m: Model) -> String {
        m.id
    }
}
impl From<&Model> for String {
    fn from(m: &Model) -> String {
        m.id.clone()
    }
}
impl PartialEq<str> for Model {
    fn eq(&self, other: &str) -> bool {
        self.id == other
    }
}
impl PartialEq<&str> for Model {
    fn eq(&self, other: &&str) -> bool {
        self.id == *other
    }
}
