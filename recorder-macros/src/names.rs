//! Names of the generated tests: one per model combination, readable, valid as
//! identifiers and stable (they depend only on the kinds and model names).

use recorder_config::Kind;

/// One generated test: its function name and the `(kind, model)` pairs it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combination {
    /// The test function's name, e.g. `text_smollm2_135m__embedding_e5_small`.
    pub name: String,
    /// The models, in the order the kinds were requested.
    pub models: Vec<(Kind, String)>,
}

/// What to generate for a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// One test per combination (no models requested: one test named `test`).
    Tests(Vec<Combination>),
    /// Some requested kinds have no model: one ignored test, named
    /// `<kind>_unconfigured` (joined by `__` when several are missing).
    Unconfigured {
        /// The test's name.
        name: String,
        /// The kinds without a model, in request order.
        missing: Vec<Kind>,
    },
}

/// Lowercases, turns every run of characters other than ASCII letters and digits
/// into one `_`, and trims `_` from both ends: `Qwen2.5-0.5B` -> `qwen2_5_0_5b`.
pub fn sanitize(model: &str) -> String {
    let mut out = String::with_capacity(model.len());
    let mut pending_underscore = false;
    for c in model.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_underscore && !out.is_empty() {
                out.push('_');
            }
            pending_underscore = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_underscore = true;
        }
    }
    out
}

/// The name of one combination: `<kind>_<sanitized model>` joined by `__`.
pub fn combination_name(models: &[(Kind, String)]) -> String {
    models
        .iter()
        .map(|(kind, model)| {
            let model = sanitize(model);
            if model.is_empty() {
                kind.as_str().to_string()
            } else {
                format!("{kind}_{model}")
            }
        })
        .collect::<Vec<_>>()
        .join("__")
}

/// Plans the tests for `kinds` (in request order) given each kind's models.
/// `models_of` returns the configured models of a kind (empty: none configured).
pub fn plan<'a>(kinds: &[Kind], models_of: impl Fn(Kind) -> &'a [String]) -> Plan {
    if kinds.is_empty() {
        return Plan::Tests(vec![Combination {
            name: "test".to_string(),
            models: Vec::new(),
        }]);
    }
    let missing: Vec<Kind> = kinds
        .iter()
        .copied()
        .filter(|kind| models_of(*kind).is_empty())
        .collect();
    if !missing.is_empty() {
        let name = missing
            .iter()
            .map(|kind| format!("{kind}_unconfigured"))
            .collect::<Vec<_>>()
            .join("__");
        return Plan::Unconfigured { name, missing };
    }

    // Cartesian product, first kind outermost.
    let mut combos: Vec<Vec<(Kind, String)>> = vec![Vec::new()];
    for kind in kinds {
        combos = combos
            .into_iter()
            .flat_map(|prefix| {
                models_of(*kind).iter().map(move |model| {
                    let mut next = prefix.clone();
                    next.push((*kind, model.clone()));
                    next
                })
            })
            .collect();
    }

    let mut names: Vec<String> = Vec::with_capacity(combos.len());
    let combinations = combos
        .into_iter()
        .map(|models| {
            let base = combination_name(&models);
            let mut name = base.clone();
            let mut n = 2;
            while names.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            names.push(name.clone());
            Combination { name, models }
        })
        .collect();
    Plan::Tests(combinations)
}

/// The reason shown for an ignored test whose kinds have no model.
pub fn ignore_reason(missing: &[Kind]) -> String {
    let kinds = missing.iter().map(|k| k.as_str()).collect::<Vec<_>>();
    let vars = missing.iter().map(|k| k.env_var()).collect::<Vec<_>>();
    format!(
        "no {} model configured: set {} or choose a setup",
        kinds.join(" or "),
        vars.join(" and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn models(pairs: &[(Kind, &[&str])]) -> BTreeMap<Kind, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (*k, v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn names(plan: &Plan) -> Vec<&str> {
        match plan {
            Plan::Tests(combos) => combos.iter().map(|c| c.name.as_str()).collect(),
            Plan::Unconfigured { name, .. } => vec![name.as_str()],
        }
    }

    #[test]
    fn sanitizes_model_names() {
        assert_eq!(sanitize("smollm2-135m"), "smollm2_135m");
        assert_eq!(sanitize("e5-small"), "e5_small");
        assert_eq!(sanitize("llama3.2:1b"), "llama3_2_1b");
        assert_eq!(
            sanitize("Qwen/Qwen2.5-0.5B-Instruct"),
            "qwen_qwen2_5_0_5b_instruct"
        );
        assert_eq!(sanitize("--gpt--4o--"), "gpt_4o");
        assert_eq!(sanitize("über-model"), "ber_model");
        assert_eq!(sanitize("..."), "");
        assert_eq!(sanitize("a__b"), "a_b");
    }

    #[test]
    fn names_join_kinds_with_double_underscores() {
        let m = models(&[
            (Kind::Text, &["smollm2-135m"]),
            (Kind::Embedding, &["e5-small"]),
        ]);
        let plan = plan(&[Kind::Text, Kind::Embedding], |k| m.get(&k).unwrap());
        assert_eq!(names(&plan), ["text_smollm2_135m__embedding_e5_small"]);
        let Plan::Tests(combos) = plan else { panic!() };
        assert_eq!(
            combos[0].models,
            [
                (Kind::Text, "smollm2-135m".to_string()),
                (Kind::Embedding, "e5-small".to_string())
            ]
        );
    }

    #[test]
    fn cartesian_product_first_kind_outermost_in_request_order() {
        let m = models(&[
            (Kind::Text, &["a", "b"]),
            (Kind::Embedding, &["x", "y", "z"]),
        ]);
        let get = |k: Kind| m.get(&k).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(
            names(&plan(&[Kind::Text, Kind::Embedding], get)),
            [
                "text_a__embedding_x",
                "text_a__embedding_y",
                "text_a__embedding_z",
                "text_b__embedding_x",
                "text_b__embedding_y",
                "text_b__embedding_z",
            ]
        );
        assert_eq!(
            names(&plan(&[Kind::Embedding, Kind::Text], get)),
            [
                "embedding_x__text_a",
                "embedding_x__text_b",
                "embedding_y__text_a",
                "embedding_y__text_b",
                "embedding_z__text_a",
                "embedding_z__text_b",
            ]
        );
    }

    #[test]
    fn no_kinds_is_one_test_named_test() {
        assert_eq!(names(&plan(&[], |_| &[])), ["test"]);
    }

    #[test]
    fn missing_kinds_make_one_unconfigured_test() {
        let m = models(&[(Kind::Embedding, &["x", "y"])]);
        let get = |k: Kind| m.get(&k).map(Vec::as_slice).unwrap_or(&[]);
        let p = plan(&[Kind::Text, Kind::Embedding], get);
        assert_eq!(
            p,
            Plan::Unconfigured {
                name: "text_unconfigured".into(),
                missing: vec![Kind::Text]
            }
        );
        let p = plan(&[Kind::Vision, Kind::Embedding, Kind::Judge], get);
        assert_eq!(names(&p), ["vision_unconfigured__judge_unconfigured"]);
    }

    #[test]
    fn duplicate_names_get_numbered() {
        let m = models(&[(Kind::Text, &["GPT-4o", "gpt_4o", "gpt.4o", "..."])]);
        let get = |k: Kind| m.get(&k).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(
            names(&plan(&[Kind::Text], get)),
            ["text_gpt_4o", "text_gpt_4o_2", "text_gpt_4o_3", "text"]
        );
    }

    #[test]
    fn every_name_is_an_identifier() {
        let m = models(&[(Kind::Text, &["1b", "???", "Ünïcode", "a b\tc"])]);
        let get = |k: Kind| m.get(&k).map(Vec::as_slice).unwrap_or(&[]);
        for name in names(&plan(&[Kind::Text], get)) {
            syn::parse_str::<syn::Ident>(name).unwrap();
        }
    }

    #[test]
    fn ignore_reasons() {
        assert_eq!(
            ignore_reason(&[Kind::Text]),
            "no text model configured: set RECORDER_TEXT_MODELS or choose a setup"
        );
        assert_eq!(
            ignore_reason(&[Kind::Vision, Kind::Judge]),
            "no vision or judge model configured: set RECORDER_VISION_MODELS and RECORDER_JUDGE_MODELS or choose a setup"
        );
    }
}
