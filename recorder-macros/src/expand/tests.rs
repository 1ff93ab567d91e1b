//! Snapshots of the expansion (pretty-printed with prettyplease) and checks of its
//! structure. The configuration is fixed here, so that the output does not depend
//! on the machine's environment or on the workspace's recorder.toml.

use super::*;
use std::collections::HashMap;

const CONFIG: &str = r#"
default_setup = "local"
[setups.local]
base_url = "http://127.0.0.1:8080/v1"
embedding_dimension = 384
models = { text = ["smollm2-135m", "Qwen2.5-0.5B"], embedding = ["e5-small"] }
[setups.gpt]
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
models = { text = ["gpt-4o-mini"], embedding = ["text-embedding-3-small"] }
embedding_dimension = 1536
[suites.base]
roots = ["chat"]
setup = "local"
[suites.hosted]
roots = ["hosted"]
setup = "gpt"
"#;

/// Expands with the fixed config and the given environment.
fn expand_env(args: TokenStream, item: TokenStream, env: &[(&str, &str)]) -> TokenStream {
    expand_at(args, item, env, &Location::default())
}

/// Expands with the fixed config and the given environment, the function being at
/// `location`.
fn expand_at(
    args: TokenStream,
    item: TokenStream,
    env: &[(&str, &str)],
    location: &Location,
) -> TokenStream {
    let config = Config::parse(CONFIG, Path::new("/project/recorder.toml")).unwrap();
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.get(name).cloned();
    let resolve = |pinned: Option<&str>, func: &ItemFn| -> Result<Resolution, ConfigError> {
        resolution(Some(config.clone()), pinned, func, location, &lookup)
    };
    expand_with(
        args,
        item,
        &Inputs {
            resolve: &resolve,
            runtime: runtime_path::extern_path("recorder_runtime"),
        },
    )
}

/// A function found at the top of `tests/<crate_root>.rs`.
fn at_top_of(crate_root: &str) -> Location {
    Location {
        file_module: Some(crate_root.to_string()),
        modules: vec![crate_root.to_string()],
        crate_name: crate_root.to_string(),
    }
}

fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_env(args, item, &[])
}

fn pretty(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens.clone())
        .unwrap_or_else(|err| panic!("expansion is not a file: {err}\n{tokens}"));
    prettyplease::unparse(&file)
}

/// The generated test functions, from the module named after the function.
fn generated_fns(tokens: TokenStream) -> Vec<syn::ItemFn> {
    let file: syn::File = syn::parse2(tokens).unwrap();
    let module = file
        .items
        .into_iter()
        .find_map(|item| match item {
            Item::Mod(m) => Some(m),
            _ => None,
        })
        .expect("a module");
    module
        .content
        .unwrap()
        .1
        .into_iter()
        .filter_map(|item| match item {
            Item::Fn(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// The generated test names.
fn test_names(tokens: TokenStream) -> Vec<String> {
    generated_fns(tokens)
        .iter()
        .map(|f| f.sig.ident.to_string())
        .collect()
}

/// The messages of the `compile_error!`s of an expansion.
fn errors_of(tokens: TokenStream) -> Vec<String> {
    let file: syn::File = syn::parse2(tokens).unwrap();
    file.items
        .iter()
        .filter_map(|item| match item {
            Item::Macro(m)
                if m.mac.path.is_ident("compile_error")
                    || m.mac.path.segments.last().unwrap().ident == "compile_error" =>
            {
                let lit: LitStr = m.mac.parse_body().unwrap();
                Some(lit.value())
            }
            _ => None,
        })
        .collect()
}

// --- snapshots of the main shapes ---------------------------------------------

#[test]
fn async_with_two_kinds() {
    let out = expand(
        quote!(models = "text,embedding"),
        quote! {
            async fn answers(ctx: RecordingContext, text_model: Model, embedding_model: Model) {
                let _ = (ctx, text_model, embedding_model);
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn plain_fn() {
    let out = expand(
        quote!(models = "text"),
        quote! {
            fn lists_models(client: Client, model: Model) -> Result<(), Error> {
                let _ = (client, model);
                Ok(())
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn no_models() {
    let out = expand(
        quote!(),
        quote! {
            pub async fn health(client: Client, embedding_dimension: usize, service: Service) {}
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn unconfigured_kind_is_ignored() {
    let out = expand(
        quote!(models = "text,vision"),
        quote! {
            #[ignore]
            async fn describes_image(text_model: Model, vision_model: Model) {}
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn attributes_carry_over() {
    let out = expand(
        quote!(models = "embedding"),
        quote! {
            /// Embeddings have the configured dimension.
            #[cfg(feature = "slow")]
            #[should_panic(expected = "boom")]
            #[allow(unused_variables)]
            #[tracing::instrument]
            async fn embeds(model: Model, embedding_dimension: usize) {
                panic!("boom")
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn options() {
    let out = expand(
        quote!(
            models = "text",
            setup = "gpt",
            mode = "live",
            timeout = "30s",
            flavor = "multi_thread",
            worker_threads = 2,
            crate = "rr"
        ),
        quote! {
            async fn hosted(client: rr::Client, model: rr::Model) -> rr::Result<()> {
                Ok(())
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn errors_keep_the_function() {
    let out = expand(
        quote!(models = "text,chat", retries = 3),
        quote! {
            async fn broken(x: u32, text_model: Model) {}
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn outside_the_selected_suite_is_ignored() {
    let out = expand_at(
        quote!(models = "text"),
        quote! {
            #[ignore = "slow"]
            async fn answers(client: Client, text_model: Model) {}
        },
        &[("RECORDER_SUITE", "hosted")],
        &at_top_of("chat"),
    );
    insta::assert_snapshot!(pretty(out));
}

// --- structure ----------------------------------------------------------------

/// The `#[ignore = "..."]` reasons of the generated tests, in order (`None`: run).
fn ignore_reasons(tokens: TokenStream) -> Vec<Option<String>> {
    generated_fns(tokens)
        .iter()
        .map(|f| {
            f.attrs.iter().find_map(|a| match &a.meta {
                syn::Meta::NameValue(nv) if a.path().is_ident("ignore") => match &nv.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => Some(s.value()),
                    _ => None,
                },
                _ => None,
            })
        })
        .collect()
}

#[test]
fn recorder_suite_ignores_the_others_and_keeps_the_names() {
    let item = quote!(
        async fn answers(text_model: Model) {}
    );
    let args = quote!(models = "text");
    let chat = at_top_of("chat");
    let names = ["text_smollm2_135m", "text_qwen2_5_0_5b"];
    // No suite selected, or this one: the tests run.
    let out = expand_at(args.clone(), item.clone(), &[], &chat);
    assert_eq!(test_names(out.clone()), names);
    assert_eq!(ignore_reasons(out), [None, None]);
    let out = expand_at(
        args.clone(),
        item.clone(),
        &[("RECORDER_SUITE", "base")],
        &chat,
    );
    assert_eq!(ignore_reasons(out), [None, None]);
    // Another suite: the same tests (the default setup's models), ignored.
    let out = expand_at(
        args.clone(),
        item.clone(),
        &[("RECORDER_SUITE", "hosted")],
        &chat,
    );
    assert_eq!(test_names(out.clone()), names);
    let reason =
        "not in suite `hosted` (RECORDER_SUITE=hosted); it belongs to suite `base` (module `chat`)";
    assert_eq!(
        ignore_reasons(out),
        [Some(reason.into()), Some(reason.into())]
    );
    // In no suite.
    let out = expand_at(
        args.clone(),
        item.clone(),
        &[("RECORDER_SUITE", "base")],
        &at_top_of("retrieval"),
    );
    assert_eq!(
        ignore_reasons(out),
        vec![Some("not in suite `base` (RECORDER_SUITE=base); it belongs to no suite (module `retrieval`)".to_string()); 2]
    );
    // The suite's own tests get its setup; explicit variables still win.
    let hosted = at_top_of("hosted");
    let out = expand_at(
        args.clone(),
        item.clone(),
        &[("RECORDER_SUITE", "hosted")],
        &hosted,
    );
    assert_eq!(test_names(out.clone()), ["text_gpt_4o_mini"]);
    assert_eq!(ignore_reasons(out), [None]);
    let env = [
        ("RECORDER_SUITE", "hosted"),
        ("RECORDER_TEXT_MODELS", "mine"),
    ];
    assert_eq!(
        test_names(expand_at(args.clone(), item.clone(), &env, &hosted)),
        ["text_mine"]
    );
    let env = [("RECORDER_SUITE", "hosted"), ("RECORDER_SETUP", "local")];
    assert_eq!(test_names(expand_at(args, item, &env, &hosted)), names);
}

#[test]
fn recorder_suite_when_the_function_was_not_found() {
    let item = quote!(
        fn f() {}
    );
    let env = [("RECORDER_SUITE", "hosted")];
    // Not found in its file (made by macro_rules!): placed in the file's module,
    // ignored when that module is outside the suite, run (and checked by the
    // runtime) when it is inside. Never generated to pass without running.
    let not_found = |module: &str| Location {
        file_module: Some(module.to_string()),
        modules: Vec::new(),
        crate_name: module.split("::").next().unwrap().to_string(),
    };
    let out = expand_at(quote!(), item.clone(), &env, &not_found("chat"));
    assert_eq!(
        ignore_reasons(out),
        [Some("not in suite `hosted` (RECORDER_SUITE=hosted); it belongs to suite `base` (module `chat`, placed by its file: #[recorded_test] did not find the function there (made by macro_rules!?))".into())]
    );
    let out = expand_at(quote!(), item.clone(), &env, &not_found("hosted"));
    assert_eq!(ignore_reasons(out.clone()), [None]);
    assert!(
        out.to_string().contains("placed_in : \"hosted\""),
        "the runtime is told where the macro placed it: {out}"
    );
    // A file outside the standard folders: the crate root.
    let crate_root = Location {
        crate_name: "chat".into(),
        ..Location::default()
    };
    let out = expand_at(quote!(), item.clone(), &env, &crate_root);
    assert_eq!(
        ignore_reasons(out),
        [Some("not in suite `hosted` (RECORDER_SUITE=hosted); it belongs to suite `base` (module `chat`, the crate root: its file is outside src/, tests/, examples/ and benches/)".into())]
    );
    // Found in an inline `mod hosted` of tests/chat.rs: in the suite.
    let inline = Location {
        file_module: Some("chat".into()),
        modules: vec!["chat::hosted".into()],
        crate_name: "chat".into(),
    };
    let out = expand_at(quote!(), item, &env, &inline);
    assert_eq!(ignore_reasons(out), [None]);
}

#[test]
fn same_named_functions_in_and_out_of_the_suite_are_a_compile_error() {
    let location = Location {
        file_module: Some("chat".into()),
        modules: vec!["chat".into(), "chat::hosted".into()],
        crate_name: "chat".into(),
    };
    let item = quote!(
        fn answers() {}
    );
    let out = expand_at(
        quote!(),
        item.clone(),
        &[("RECORDER_SUITE", "hosted")],
        &location,
    );
    assert_eq!(
        errors_of(out.clone()),
        ["recorded_test: cannot tell whether `answers` is in suite `hosted` (RECORDER_SUITE=hosted): its file has #[recorded_test] functions of that name with the same signature and body in modules `chat`, `chat::hosted`, not all of them in the suite; rename one"]
    );
    assert!(out.to_string().contains("fn answers () { }"), "{out}");
    // Without a suite selected, nothing to decide.
    assert!(errors_of(expand_at(quote!(), item, &[], &location)).is_empty());
}

#[test]
fn the_runtime_is_told_the_suite_it_was_built_for() {
    let item = quote!(
        fn f() {}
    );
    let out = expand_at(quote!(), item.clone(), &[], &at_top_of("chat"));
    let text = out.to_string();
    assert!(
        text.contains("suite : :: core :: option :: Option :: None"),
        "{text}"
    );
    let out = expand_at(
        quote!(),
        item,
        &[("RECORDER_SUITE", "base")],
        &at_top_of("chat"),
    );
    let text = out.to_string();
    assert!(
        text.contains("suite : :: core :: option :: Option :: Some (\"base\")")
            && text.contains("placed_in : \"chat\""),
        "{text}"
    );
}

#[test]
fn the_embedding_dimension_defaults_to_768() {
    let item = quote!(
        fn f(embedding_dimension: usize) {}
    );
    // The `gpt` setup gives 1536; the environment wins; no setup: the default.
    let gpt = expand_env(quote!(setup = "gpt"), item.clone(), &[]).to_string();
    assert!(gpt.contains("embedding_dimension : 1536"), "{gpt}");
    let env = expand_env(
        quote!(),
        item.clone(),
        &[("RECORDER_EMBEDDING_DIMENSION", "42")],
    )
    .to_string();
    assert!(env.contains("embedding_dimension : 42"), "{env}");
    let config = Config::parse("[setups.plain]", Path::new("/p/recorder.toml")).unwrap();
    let resolve = |pinned: Option<&str>, func: &ItemFn| {
        resolution(
            Some(config.clone()),
            pinned,
            func,
            &Location::default(),
            &|_: &str| None,
        )
    };
    let out = expand_with(
        quote!(setup = "plain"),
        item,
        &Inputs {
            resolve: &resolve,
            runtime: runtime_path::extern_path("recorder_runtime"),
        },
    )
    .to_string();
    assert!(out.contains("embedding_dimension : 768"), "{out}");
}

#[test]
fn outside_the_suite_wins_over_an_unconfigured_kind() {
    let out = expand_at(
        quote!(models = "vision"),
        quote!(
            fn f(m: Model) {}
        ),
        &[("RECORDER_SUITE", "hosted")],
        &at_top_of("chat"),
    );
    assert_eq!(test_names(out.clone()), ["vision_unconfigured"]);
    assert_eq!(
        ignore_reasons(out),
        [Some("not in suite `hosted` (RECORDER_SUITE=hosted); it belongs to suite `base` (module `chat`)".into())]
    );
}

#[test]
fn unknown_suite_is_an_error_listing_the_known_ones() {
    let out = expand_env(
        quote!(models = "text"),
        quote!(
            fn f(m: Model) {}
        ),
        &[("RECORDER_SUITE", "hostd")],
    );
    assert_eq!(
        errors_of(out.clone()),
        ["recorded_test: unknown suite `hostd` (from RECORDER_SUITE): /project/recorder.toml defines `base`, `hosted`; use one of those or add [suites.hostd]"]
    );
    assert!(out.to_string().contains("fn f (m : Model) { }"), "{out}");
}

#[test]
fn names_follow_the_environment() {
    let item = quote!(
        async fn answers(text_model: Model, embedding_model: Model) {}
    );
    let args = quote!(models = "text,embedding");
    assert_eq!(
        test_names(expand(args.clone(), item.clone())),
        [
            "text_smollm2_135m__embedding_e5_small",
            "text_qwen2_5_0_5b__embedding_e5_small"
        ]
    );
    let env = [
        ("RECORDER_TEXT_MODELS", "a,b"),
        ("RECORDER_EMBEDDING_MODELS", "x,y,z"),
    ];
    assert_eq!(
        test_names(expand_env(args.clone(), item.clone(), &env)),
        [
            "text_a__embedding_x",
            "text_a__embedding_y",
            "text_a__embedding_z",
            "text_b__embedding_x",
            "text_b__embedding_y",
            "text_b__embedding_z",
        ]
    );
    let env = [("RECORDER_SETUP", "gpt")];
    assert_eq!(
        test_names(expand_env(args, item, &env)),
        ["text_gpt_4o_mini__embedding_text_embedding_3_small"]
    );
}

#[test]
fn tracks_every_variable_and_the_file() {
    let out = expand(
        quote!(),
        quote!(
            fn f() {}
        ),
    )
    .to_string();
    for var in TRACKED_ENV {
        assert!(
            out.contains(&format!("option_env ! (\"{var}\")")),
            "{var} in {out}"
        );
    }
    assert!(
        out.contains("include_bytes ! (\"/project/recorder.toml\")"),
        "{out}"
    );
}

#[test]
fn no_file_no_include() {
    let resolve = |_: Option<&str>, _: &ItemFn| -> Result<Resolution, ConfigError> {
        Ok(Resolution::default())
    };
    let out = expand_with(
        quote!(),
        quote!(
            fn f() {}
        ),
        &Inputs {
            resolve: &resolve,
            runtime: runtime_path::extern_path("recorder_runtime"),
        },
    );
    let text = out.to_string();
    assert!(!text.contains("include_bytes"), "{text}");
    assert!(text.contains("option_env"), "{text}");
    assert!(
        text.contains("config_file : :: core :: option :: Option :: None"),
        "{text}"
    );
    assert_eq!(test_names(out), ["test"]);
}

/// Expands `models = "text,embedding"` with no `recorder.toml` (searched from
/// `/work/crate`) and the environment `env`.
fn expand_without_file(env: &[(&str, &str)]) -> TokenStream {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.get(name).cloned();
    let resolve = |pinned: Option<&str>, func: &ItemFn| -> Result<Resolution, ConfigError> {
        let mut resolution = resolution(None, pinned, func, &Location::default(), &lookup)?;
        resolution.searched = Path::new("/work/crate")
            .ancestors()
            .map(Path::to_path_buf)
            .collect();
        Ok(resolution)
    };
    expand_with(
        quote!(models = "text,embedding"),
        quote!(
            async fn f(text_model: Model, embedding_model: Model) {}
        ),
        &Inputs {
            resolve: &resolve,
            runtime: runtime_path::extern_path("recorder_runtime"),
        },
    )
}

#[test]
fn no_file_and_no_variables_for_the_models_is_a_compile_error() {
    assert_eq!(
        errors_of(expand_without_file(&[])),
        ["recorded_test: this test asks for text and embedding models, but no recorder.toml was found to take them from (looked in /work/crate, /work, /) and RECORDER_TEXT_MODELS, RECORDER_EMBEDDING_MODELS are unset; run `cargo recordings init` in the crate (or its workspace root) to write one, or set them"]
    );
    // One kind given: the error names only the other.
    assert_eq!(
        errors_of(expand_without_file(&[("RECORDER_TEXT_MODELS", "m")])),
        ["recorded_test: this test asks for embedding models, but no recorder.toml was found to take it from (looked in /work/crate, /work, /) and RECORDER_EMBEDDING_MODELS is unset; run `cargo recordings init` in the crate (or its workspace root) to write one, or set it"]
    );
}

#[test]
fn no_file_but_variables_giving_every_model_builds() {
    let out = expand_without_file(&[
        ("RECORDER_TEXT_MODELS", "m"),
        ("RECORDER_EMBEDDING_MODELS", "e"),
    ]);
    assert!(errors_of(out.clone()).is_empty());
    assert_eq!(test_names(out), ["text_m__embedding_e"]);
}

#[test]
fn a_kind_unconfigured_in_an_existing_file_stays_ignored() {
    let out = expand(
        quote!(models = "rerank"),
        quote!(
            async fn f(model: Model) {}
        ),
    );
    assert!(errors_of(out.clone()).is_empty());
    assert_eq!(test_names(out), ["rerank_unconfigured"]);
}

#[test]
fn renamed_runtime_by_default_path() {
    let resolve = |_: Option<&str>, _: &ItemFn| -> Result<Resolution, ConfigError> {
        Ok(Resolution::default())
    };
    let out = expand_with(
        quote!(),
        quote!(
            fn f() {}
        ),
        &Inputs {
            resolve: &resolve,
            runtime: runtime_path::extern_path("rr"),
        },
    )
    .to_string();
    assert!(out.contains(":: rr :: __private :: run_sync"), "{out}");
    assert!(!out.contains("recorder_runtime"), "{out}");
}

#[test]
fn crate_option_paths() {
    let item = quote!(
        fn f() {}
    );
    let out = expand(quote!(crate = "crate::rt"), item.clone()).to_string();
    assert!(
        out.contains("crate :: rt :: __private :: run_sync"),
        "{out}"
    );
    let out = expand(quote!(crate = "::a::b"), item).to_string();
    assert!(out.contains(":: a :: b :: __private :: run_sync"), "{out}");
}

#[test]
fn config_errors_point_at_the_attribute_or_the_setup() {
    let out = expand(
        quote!(setup = "claude"),
        quote!(
            fn f() {}
        ),
    );
    assert_eq!(
        errors_of(out),
        ["recorded_test: unknown setup `claude` (from the test's `setup = ...`): /project/recorder.toml defines `gpt`, `local`; use one of those or add [setups.claude]"]
    );
    let out = expand_env(
        quote!(),
        quote!(
            fn f() {}
        ),
        &[("RECORDER_EMBEDDING_DIMENSION", "big")],
    );
    assert_eq!(
        errors_of(out),
        ["recorded_test: RECORDER_EMBEDDING_DIMENSION=\"big\": expected a positive whole number such as 384, or unset it"]
    );
}

#[test]
fn broken_config_file_is_an_error() {
    let resolve = |_: Option<&str>, _: &ItemFn| -> Result<Resolution, ConfigError> {
        Config::parse("[setups.a]\nbase_ulr = 1", Path::new("/p/recorder.toml"))?;
        unreachable!()
    };
    let out = expand_with(
        quote!(),
        quote!(
            fn f() {}
        ),
        &Inputs {
            resolve: &resolve,
            runtime: runtime_path::extern_path("recorder_runtime"),
        },
    );
    let errors = errors_of(out);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("recorded_test: invalid /p/recorder.toml"),
        "{errors:?}"
    );
    assert!(errors[0].contains("base_ulr"), "{errors:?}");
}

#[test]
fn all_errors_at_once_with_the_function() {
    let out = expand(
        quote!(
            models = "text,chat",
            modle = "x",
            mode = "fast",
            timeout = "1h"
        ),
        quote! {
            #[tokio::test]
            async fn f<T>(&self, x: Foo, text_model: Model) {}
        },
    );
    let text = out.to_string();
    let errors = errors_of(out.clone());
    assert_eq!(errors.len(), 8, "{errors:#?}");
    assert!(
        text.contains("async fn f < T > (& self , x : Foo , text_model : Model) { }"),
        "{text}"
    );
}

#[test]
fn not_a_function() {
    let out = expand(quote!(models = "text"), quote! { struct S { a: u8 } });
    assert_eq!(
        errors_of(out.clone()),
        ["#[recorded_test] goes on a function: `async fn name(client: Client, text_model: Model) { ... }`"]
    );
    assert!(out.to_string().contains("struct S { a : u8 }"));
    // Argument errors are reported too.
    let out = expand(
        quote!(models = "txt"),
        quote!(
            const X: u8 = 1;
        ),
    );
    assert_eq!(errors_of(out).len(), 2);
}

#[test]
fn unparsable_item_is_kept() {
    let out = expand(quote!(), quote!(fn f(x) {}));
    assert!(out.to_string().contains("compile_error"));
}

#[test]
fn flavor_on_a_sync_fn_is_an_error() {
    let out = expand(
        quote!(flavor = "multi_thread"),
        quote!(
            fn f() {}
        ),
    );
    assert_eq!(
        errors_of(out),
        ["flavor applies to `async fn` tests only: make the function async or remove the option"]
    );
}

#[test]
fn unsafe_and_extern_are_errors() {
    let out = expand(
        quote!(),
        quote!(
            unsafe extern "C" fn f() {}
        ),
    );
    assert_eq!(errors_of(out).len(), 2);
}

#[test]
fn user_ignore_is_replaced_by_the_unconfigured_reason() {
    let out = expand(
        quote!(models = "judge"),
        quote!(
            #[ignore = "slow"]
            fn f(m: Model) {}
        ),
    )
    .to_string();
    assert_eq!(out.matches("# [ignore").count(), 1, "{out}");
    assert!(out.contains("no judge model configured"), "{out}");
}

#[test]
fn attribute_placement() {
    let attr = |tokens: TokenStream| -> Attribute {
        let item: ItemFn = syn::parse2(quote!(#tokens fn f() {})).unwrap();
        item.attrs[0].clone()
    };
    assert_eq!(place(&attr(quote!(#[should_panic]))), Place::Tests);
    assert_eq!(place(&attr(quote!(#[ignore = "x"]))), Place::Tests);
    assert_eq!(place(&attr(quote!(#[doc = "x"]))), Place::Both);
    assert_eq!(place(&attr(quote!(#[cfg(unix)]))), Place::Both);
    assert_eq!(place(&attr(quote!(#[expect(unused)]))), Place::Both);
    assert_eq!(
        place(&attr(quote!(#[tracing::instrument]))),
        Place::Function
    );
    assert_eq!(place(&attr(quote!(#[inline]))), Place::Function);
    assert!(is_test_attribute(&attr(quote!(#[test]))));
    assert!(is_test_attribute(&attr(quote!(#[tokio::test]))));
    assert!(!is_test_attribute(&attr(quote!(#[should_panic]))));
}
