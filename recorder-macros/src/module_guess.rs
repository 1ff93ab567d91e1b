//! Where a test function is, at expansion time, from its source file.
//!
//! Proc macros cannot see the module path. It matters at expansion time for
//! suites (`[suites.<name>] roots = [...]`): the default setup of the test's suite
//! decides the models and so the generated tests, and under `RECORDER_SUITE` a test
//! of another suite is generated ignored. The file layout gives the path of file
//! modules (`tests/chat.rs` is crate `chat`, `src/embeddings/batch.rs` is
//! `<crate>::embeddings::batch`, see [`guess`]); reading the file gives the inline
//! `mod x { ... }` blocks around the function ([`Location::find`]). A function the
//! file does not show (made by `macro_rules!`) is placed in the file's module, and
//! a file outside the standard folders in the crate root: what the macro can see.
//! The runtime, which knows the real path, fails a test placed wrongly instead of
//! running it as part of the wrong suite.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Item, ItemFn};

/// The module path of items in `file`, for a crate named `crate_name` whose
/// manifest is in `manifest_dir`. `None` when the file is not under a standard
/// target folder (`src`, `tests`, `examples`, `benches`).
pub fn guess(file: &Path, manifest_dir: &Path, crate_name: &str) -> Option<String> {
    let rel = file.strip_prefix(manifest_dir).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().map(str::to_string),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let (first, rest) = parts.split_first()?;
    let modules: &[String] = match (first.as_str(), rest) {
        // src/bin/x.rs and src/bin/x/main.rs are binary crate roots.
        ("src", [bin, _, rest @ ..]) if bin == "bin" && !rest.is_empty() => rest,
        ("src", [bin, _]) if bin == "bin" => &[],
        ("src", rest) => rest,
        // tests/x.rs is a crate root; tests/x/main.rs too, with modules beside it.
        ("tests" | "examples" | "benches", [_]) => &[],
        ("tests" | "examples" | "benches", [_, rest @ ..]) => rest,
        _ => return None,
    };
    let mut path = vec![crate_name.to_string()];
    let count = modules.len();
    for (i, part) in modules.iter().enumerate() {
        let last = i + 1 == count;
        if last {
            let stem = part.strip_suffix(".rs")?;
            if ["lib", "main", "mod"].contains(&stem) {
                continue;
            }
            path.push(stem.to_string());
        } else {
            path.push(part.clone());
        }
    }
    Some(path.join("::"))
}

/// Where a test function is, as far as the macro can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The module of the source file ([`guess`]); `None` when unknown.
    pub file_module: Option<String>,
    /// The module paths where the function was found in the file, with the inline
    /// modules around it: one, or several when modules define functions of the same
    /// name that the macro cannot tell apart. Empty when it was not found.
    pub modules: Vec<String>,
    /// The crate's name (`CARGO_CRATE_NAME`): the module of last resort.
    pub crate_name: String,
}

impl Location {
    /// Locates function `function` (its name without `r#`; `fingerprint` from
    /// [`fingerprint`]) of `file`, in the crate `crate_name` whose manifest is in
    /// `manifest_dir`.
    pub fn find(
        file: &Path,
        manifest_dir: &Path,
        crate_name: &str,
        function: &str,
        fingerprint: u64,
    ) -> Location {
        let Some(file_module) = guess(file, manifest_dir, crate_name) else {
            return Location {
                crate_name: crate_name.to_string(),
                ..Location::default()
            };
        };
        let modules = inline_modules(file, function, fingerprint)
            .into_iter()
            .map(|inline| {
                std::iter::once(file_module.as_str())
                    .chain(inline.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join("::")
            })
            .collect();
        Location {
            file_module: Some(file_module),
            modules,
            crate_name: crate_name.to_string(),
        }
    }

    /// The module path the test is placed in: where the function was found if that
    /// is one module, else the file's module, else the crate root (empty when even
    /// the crate is unknown).
    pub fn module_path(&self) -> &str {
        match self.modules.as_slice() {
            [only] => only,
            _ => self.file_module.as_deref().unwrap_or(&self.crate_name),
        }
    }

    /// How [`Location::module_path`] was chosen, for messages: empty when the
    /// function was found, else what the macro went by.
    pub fn how_placed(&self) -> &'static str {
        match (self.modules.is_empty(), &self.file_module) {
            (false, _) => "",
            (true, Some(_)) => ", placed by its file: #[recorded_test] did not find the function there (made by macro_rules!?)",
            (true, None) => ", the crate root: its file is outside src/, tests/, examples/ and benches/",
        }
    }
}

/// A hash of a function's signature and body tokens (spacing and spans aside): tells
/// apart functions of the same name in one file, as the file shows them and as the
/// macro receives them.
pub fn fingerprint(func: &ItemFn) -> u64 {
    fn feed(tokens: TokenStream, hasher: &mut DefaultHasher) {
        for tree in tokens {
            match tree {
                TokenTree::Group(group) => {
                    let (open, close) = match group.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::None => ("", ""),
                    };
                    hasher.write(open.as_bytes());
                    feed(group.stream(), hasher);
                    hasher.write(close.as_bytes());
                }
                TokenTree::Ident(ident) => hasher.write(ident.to_string().as_bytes()),
                TokenTree::Punct(punct) => hasher.write_u32(punct.as_char() as u32),
                TokenTree::Literal(literal) => hasher.write(literal.to_string().as_bytes()),
            }
            hasher.write_u8(0);
        }
    }
    let mut hasher = DefaultHasher::new();
    feed(func.sig.to_token_stream(), &mut hasher);
    feed(func.block.to_token_stream(), &mut hasher);
    hasher.finish()
}

/// Functions with a `#[recorded_test]` attribute in one source file, by name, each
/// with the inline modules around it (`[]` at the top of the file) and its
/// [`fingerprint`].
type Index = HashMap<String, Vec<(Vec<String>, u64)>>;

/// The inline modules around the function `function` with a `#[recorded_test]`
/// attribute in `file`: those of the functions of that name with this fingerprint,
/// else of every function of that name (another attribute may have rewritten the
/// one being expanded); empty when there is none or the file cannot be read. Files
/// are parsed once per compilation (a cache keyed by path and text).
fn inline_modules(file: &Path, function: &str, fingerprint: u64) -> Vec<Vec<String>> {
    thread_local! {
        static CACHE: RefCell<HashMap<PathBuf, (String, Rc<Index>)>> = RefCell::new(HashMap::new());
    }
    let Ok(source) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let index = CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        match cache.get(file) {
            Some((text, index)) if *text == source => Rc::clone(index),
            _ => {
                let index = Rc::new(index_source(&source));
                cache.insert(file.to_path_buf(), (source, Rc::clone(&index)));
                index
            }
        }
    });
    let found = index.get(function).map(Vec::as_slice).unwrap_or_default();
    let same: Vec<Vec<String>> = found
        .iter()
        .filter(|(_, print)| *print == fingerprint)
        .map(|(modules, _)| modules.clone())
        .collect();
    if same.is_empty() {
        found.iter().map(|(modules, _)| modules.clone()).collect()
    } else {
        same
    }
}

/// Indexes the `#[recorded_test]` functions of a source file (any attribute path
/// ending in `recorded_test`). Only plain data is kept: tokens must not outlive
/// one macro invocation. A file that does not parse has none.
fn index_source(source: &str) -> Index {
    fn visit(items: &[Item], modules: &mut Vec<String>, index: &mut Index) {
        for item in items {
            match item {
                Item::Fn(func)
                    if func.attrs.iter().any(|attr| {
                        attr.path()
                            .segments
                            .last()
                            .is_some_and(|s| s.ident == "recorded_test")
                    }) =>
                {
                    index
                        .entry(func.sig.ident.unraw().to_string())
                        .or_default()
                        .push((modules.clone(), fingerprint(func)));
                }
                Item::Mod(module) => {
                    if let Some((_, items)) = &module.content {
                        modules.push(module.ident.unraw().to_string());
                        visit(items, modules, index);
                        modules.pop();
                    }
                }
                _ => {}
            }
        }
    }
    let mut index = Index::new();
    if let Ok(file) = syn::parse_file(source) {
        visit(&file.items, &mut Vec::new(), &mut index);
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(file: &str) -> Option<String> {
        guess(Path::new(file), Path::new("/w/app"), "app")
    }

    #[test]
    fn library_and_binary_files() {
        assert_eq!(g("/w/app/src/lib.rs").as_deref(), Some("app"));
        assert_eq!(g("/w/app/src/main.rs").as_deref(), Some("app"));
        assert_eq!(g("/w/app/src/chat.rs").as_deref(), Some("app::chat"));
        assert_eq!(g("/w/app/src/chat/mod.rs").as_deref(), Some("app::chat"));
        assert_eq!(
            g("/w/app/src/chat/streaming.rs").as_deref(),
            Some("app::chat::streaming")
        );
        assert_eq!(g("/w/app/src/bin/tool.rs").as_deref(), Some("app"));
        assert_eq!(g("/w/app/src/bin/tool/main.rs").as_deref(), Some("app"));
        assert_eq!(
            g("/w/app/src/bin/tool/util.rs").as_deref(),
            Some("app::util")
        );
    }

    #[test]
    fn integration_tests() {
        assert_eq!(g("/w/app/tests/chat.rs").as_deref(), Some("app"));
        assert_eq!(g("/w/app/tests/chat/main.rs").as_deref(), Some("app"));
        assert_eq!(
            g("/w/app/tests/chat/streaming.rs").as_deref(),
            Some("app::streaming")
        );
        assert_eq!(g("/w/app/examples/demo.rs").as_deref(), Some("app"));
    }

    #[test]
    fn elsewhere_is_unknown() {
        assert_eq!(g("/w/other/src/lib.rs"), None);
        assert_eq!(g("/w/app/build.rs"), None);
        assert_eq!(g("/w/app/src/data.txt"), None);
    }

    #[test]
    fn indexes_recorded_functions_with_their_inline_modules() {
        let index = index_source(
            r#"
            use recorder_runtime::recorded_test;
            #[recorded_test(models = "text")]
            async fn top(model: Model) {}
            fn helper() {}
            #[test]
            fn plain() {}
            mod service {
                #[recorder_runtime::recorded_test]
                fn inner() {}
                mod deeper {
                    #[rr::recorded_test]
                    fn r#loop() {}
                    #[recorded_test]
                    fn top() {}
                }
                fn not_a_test() {
                    #[recorded_test]
                    fn in_a_body() {}
                }
            }
            mod file_module;
            macro_rules! made { () => { #[recorded_test] fn made() {} } }
            "#,
        );
        let mut names: Vec<&String> = index.keys().collect();
        names.sort();
        assert_eq!(names, ["inner", "loop", "top"]);
        let modules = |name: &str| -> Vec<Vec<String>> {
            index[name].iter().map(|(m, _)| m.clone()).collect()
        };
        assert_eq!(modules("top"), [vec![], vec!["service", "deeper"]]);
        assert_eq!(modules("inner"), [vec!["service"]]);
        assert_eq!(modules("loop"), [vec!["service", "deeper"]]);
        // The two `top`s differ by their signatures.
        assert_ne!(index["top"][0].1, index["top"][1].1);
        assert!(index_source("fn broken(").is_empty());
    }

    #[test]
    fn fingerprints_ignore_attributes_spacing_and_comments() {
        let a: ItemFn =
            syn::parse_str("#[recorded_test]\nasync fn f(m: Model) { let x = 1; /* c */ g(x) }")
                .unwrap();
        let b: ItemFn = syn::parse_str("#[other] async   fn f( m : Model ){let x=1;g(x)}").unwrap();
        let c: ItemFn = syn::parse_str("async fn f(m: Model) { let x = 2; g(x) }").unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn locates_functions_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tests/chat.rs");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            "#[recorded_test]\nfn a() {}\nmod service {\n    #[recorded_test]\n    fn b() {}\n    #[recorded_test]\n    fn a() {}\n}\n",
        )
        .unwrap();
        let find = |name: &str| Location::find(&file, dir.path(), "chat", name, 0);
        let b = find("b");
        assert_eq!(b.modules, ["chat::service"]);
        assert_eq!(b.module_path(), "chat::service");
        assert_eq!(b.how_placed(), "");
        let a = find("a");
        assert_eq!(a.modules, ["chat", "chat::service"]);
        assert_eq!(a.module_path(), "chat", "ambiguous: the file's module");
        let missing = find("made_by_a_macro");
        assert_eq!(missing.file_module.as_deref(), Some("chat"));
        assert!(missing.modules.is_empty());
        assert_eq!(missing.module_path(), "chat");
        assert!(missing.how_placed().contains("placed by its file"));
        // An edited file is read again.
        std::fs::write(
            &file,
            "mod moved {\n    #[recorded_test]\n    fn b() {}\n}\n",
        )
        .unwrap();
        assert_eq!(find("b").modules, ["chat::moved"]);
        // Outside the standard folders: the crate root.
        let elsewhere = Location::find(&dir.path().join("build.rs"), dir.path(), "chat", "a", 0);
        assert_eq!(elsewhere.file_module, None);
        assert_eq!(elsewhere.module_path(), "chat");
        assert!(elsewhere.how_placed().contains("crate root"));
        assert_eq!(Location::default().module_path(), "");
    }

    #[test]
    fn same_named_functions_are_told_apart_by_their_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tests/chat.rs");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let text = "#[recorded_test]\nfn a() { one() }\nmod service {\n    #[recorded_test]\n    fn a() { two() }\n}\nmod copy {\n    #[recorded_test]\n    fn a() { two() }\n}\n";
        std::fs::write(&file, text).unwrap();
        let print =
            |body: &str| fingerprint(&syn::parse_str(&format!("fn a() {{ {body} }}")).unwrap());
        let find = |print: u64| Location::find(&file, dir.path(), "chat", "a", print).modules;
        assert_eq!(find(print("one()")), ["chat"]);
        assert_eq!(find(print("two()")), ["chat::service", "chat::copy"]);
        // Rewritten by another attribute: every function of that name.
        assert_eq!(find(print("three()")).len(), 3);
    }
}
