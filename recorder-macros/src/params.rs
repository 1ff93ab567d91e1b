//! What each parameter of the annotated function receives.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, ToTokens};
use recorder_config::Kind;
use syn::{FnArg, Pat, PatType, Signature, Type};

use crate::errors::Errors;

/// A fixture the generated test passes for one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// `RecordingContext`: `fx.context()`.
    Context,
    /// `Client`: `fx.client()`.
    Client,
    /// `Model`: `fx.model("<kind>")`.
    Model(Kind),
    /// `embedding_dimension: usize`: `fx.embedding_dimension()`.
    EmbeddingDimension,
    /// `Service`: `fx.service()`.
    Service,
}

impl Injected {
    /// The expression producing this fixture from `fx`. `ty_span` is the span of
    /// the parameter's type: a `Client` that is another library's type is reported
    /// there (by the runtime's `FixtureClient` bound).
    pub fn call(self, ty_span: Span) -> TokenStream {
        match self {
            Injected::Context => quote!(fx.context()),
            Injected::Client => {
                let client = Ident::new("client", ty_span);
                quote!(fx.#client())
            }
            Injected::Model(kind) => {
                let kind = kind.as_str();
                quote!(fx.model(#kind))
            }
            Injected::EmbeddingDimension => quote!(fx.embedding_dimension()),
            Injected::Service => quote!(fx.service()),
        }
    }
}

const TAKES: &str = "recorded tests take RecordingContext, Client, Model (one per requested kind, named <kind>_model), embedding_dimension: usize or Service";

/// Decides what each parameter receives. `kinds` are the requested kinds, or
/// `None` when `models = "..."` was invalid (model parameters are then accepted
/// without checks, so that one mistake is reported once). `runtime` is the first
/// segment of the path the expansion reaches the runtime by (`recorder_runtime`,
/// or its new name): a `Client` under any other crate is not the fixture client.
pub fn analyze(
    sig: &Signature,
    kinds: Option<&[Kind]>,
    runtime: &str,
    errors: &mut Errors,
) -> Vec<Injected> {
    let mut out = Vec::with_capacity(sig.inputs.len());
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "#[recorded_test] goes on a free function, not a method: remove `self`",
            )),
            FnArg::Typed(param) => match injected(param, kinds, runtime) {
                Ok(injected) => out.push(injected),
                Err(err) => errors.push(err),
            },
        }
    }
    out
}

fn injected(param: &PatType, kinds: Option<&[Kind]>, runtime: &str) -> syn::Result<Injected> {
    let name = param_name(&param.pat);
    let ty = peel(&param.ty);
    let shown = format!("{}: {}", tidy(&param.pat), tidy(&param.ty));

    if let Type::Reference(reference) = ty {
        if let Some(last) = last_segment(peel(&reference.elem)) {
            if ["RecordingContext", "Client", "Model", "Service"].contains(&last.as_str()) {
                return Err(syn::Error::new_spanned(
                    param,
                    format!("cannot inject `{shown}`: take `{last}` by value, not by reference"),
                ));
            }
        }
    }

    let last = last_segment(ty);
    match last.as_deref() {
        Some("RecordingContext") => return Ok(Injected::Context),
        Some("Client") => {
            return match foreign_client(ty, runtime) {
                Some(advice) => Err(syn::Error::new_spanned(
                    &param.ty,
                    format!("cannot inject `{shown}`: the `Client` fixture is the recorder's own client (`recorder_runtime::Client`), not {advice}"),
                )),
                None => Ok(Injected::Client),
            }
        }
        Some("Service") => return Ok(Injected::Service),
        Some("Model") => return model(param, name.as_deref(), kinds, &shown),
        _ => {}
    }
    if name.as_deref() == Some("embedding_dimension") {
        return if last.as_deref() == Some("usize") {
            Ok(Injected::EmbeddingDimension)
        } else {
            Err(syn::Error::new_spanned(
                param,
                format!("cannot inject `{shown}`: the embedding dimension is a `usize`: write `embedding_dimension: usize`"),
            ))
        };
    }
    Err(syn::Error::new_spanned(
        param,
        format!("cannot inject `{shown}`: {TAKES}"),
    ))
}

fn model(
    param: &PatType,
    name: Option<&str>,
    kinds: Option<&[Kind]>,
    shown: &str,
) -> syn::Result<Injected> {
    let named = name.and_then(kind_of_name);
    let Some(kinds) = kinds else {
        return Ok(Injected::Model(named.unwrap_or(Kind::Text)));
    };
    if kinds.is_empty() {
        return Err(syn::Error::new_spanned(
            param,
            format!("cannot inject `{shown}`: no models are requested; ask for a kind, e.g. #[recorded_test(models = \"text\")]"),
        ));
    }
    match named {
        Some(kind) if kinds.contains(&kind) => Ok(Injected::Model(kind)),
        Some(kind) => Err(syn::Error::new_spanned(
            param,
            format!(
                "cannot inject `{shown}`: `{}` names the {kind} kind, which is not requested; add it: models = \"{},{kind}\"",
                name.unwrap_or_default(),
                kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
            ),
        )),
        None if kinds.len() == 1 => Ok(Injected::Model(kinds[0])),
        None => Err(syn::Error::new_spanned(
            param,
            format!(
                "cannot inject `{shown}`: with several kinds requested, name each Model parameter after its kind: {}",
                kinds.iter().map(|k| format!("{k}_model")).collect::<Vec<_>>().join(", "),
            ),
        )),
    }
}

/// What to do instead, when a `Client` parameter's type is another library's client:
/// one with generic arguments (`async_openai::Client<OpenAIConfig>`), or one under
/// a crate other than the runtime (`reqwest::Client`). A bare `Client` imported from
/// elsewhere cannot be told apart here: the runtime's `FixtureClient` bound says the
/// same when the types are checked.
fn foreign_client(ty: &Type, runtime: &str) -> Option<String> {
    let Type::Path(path) = peel(ty) else {
        return None;
    };
    let segments = &path.path.segments;
    let first = segments.first()?.ident.to_string();
    let generic = !segments.last()?.arguments.is_none();
    let ours = ["crate", "self", "super", "recorder_runtime", runtime].contains(&first.as_str());
    if !generic && (segments.len() < 2 || ours) {
        return None;
    }
    let shown = tidy(&path.path);
    let advice = match first.as_str() {
        "reqwest" => "take `ctx: RecordingContext` and use `ctx.reqwest_client()` (feature `reqwest-middleware`, in process), or point your `reqwest::Client` at `ctx.base_url()`",
        "async_openai" => "take `ctx: RecordingContext` and build yours with `.with_http_service(ctx.openai_service())` (feature `async-openai`, in process), or with `OpenAIConfig::new().with_api_base(ctx.base_url())`",
        _ => "take `ctx: RecordingContext` and point yours at `ctx.base_url()` (OpenAI-style `/v1`) or `ctx.ollama_url()`",
    };
    Some(format!("`{shown}`: to use it, {advice}"))
}

/// `text_model` and `text` name the text kind, and so on.
fn kind_of_name(name: &str) -> Option<Kind> {
    let name = name.trim_start_matches('_');
    let base = name.strip_suffix("_model").unwrap_or(name);
    Kind::ALL.into_iter().find(|kind| kind.as_str() == base)
}

fn param_name(pat: &Pat) -> Option<String> {
    match pat {
        Pat::Ident(ident) => Some(ident.ident.to_string()),
        _ => None,
    }
}

fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => peel(&group.elem),
        Type::Paren(paren) => peel(&paren.elem),
        other => other,
    }
}

fn last_segment(ty: &Type) -> Option<String> {
    match peel(ty) {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|seg| seg.ident.to_string())
        }
        _ => None,
    }
}

/// Tokens as a person writes them: `Vec<u8>`, not `Vec < u8 >`.
fn tidy(tokens: &impl ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("mut ", "mut "),
    ] {
        text = text.replace(from, to);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn run(sig: Signature, kinds: Option<&[Kind]>) -> Result<Vec<Injected>, Vec<String>> {
        let mut errors = Errors::default();
        let out = analyze(&sig, kinds, "rr", &mut errors);
        match errors.into_error() {
            None => Ok(out),
            Some(err) => Err(err.into_iter().map(|e| e.to_string()).collect()),
        }
    }

    const TEXT: &[Kind] = &[Kind::Text];
    const TEXT_EMBEDDING: &[Kind] = &[Kind::Text, Kind::Embedding];

    #[test]
    fn injects_by_type_and_name() {
        let sig: Signature = parse_quote!(fn f(
            ctx: RecordingContext,
            client: recorder_runtime::Client,
            mut text_model: Model,
            embedding: Model,
            embedding_dimension: usize,
            svc: Service,
        ));
        assert_eq!(
            run(sig, Some(TEXT_EMBEDDING)).unwrap(),
            [
                Injected::Context,
                Injected::Client,
                Injected::Model(Kind::Text),
                Injected::Model(Kind::Embedding),
                Injected::EmbeddingDimension,
                Injected::Service,
            ]
        );
    }

    #[test]
    fn one_kind_takes_any_model_name() {
        let sig: Signature = parse_quote!(fn f(m: Model, _: Model));
        assert_eq!(
            run(sig, Some(&[Kind::Vision])).unwrap(),
            [Injected::Model(Kind::Vision), Injected::Model(Kind::Vision)]
        );
    }

    #[test]
    fn several_kinds_need_kind_names() {
        let sig: Signature = parse_quote!(fn f(model: Model));
        assert_eq!(
            run(sig, Some(TEXT_EMBEDDING)).unwrap_err(),
            ["cannot inject `model: Model`: with several kinds requested, name each Model parameter after its kind: text_model, embedding_model"]
        );
    }

    #[test]
    fn a_model_of_an_unrequested_kind_is_an_error() {
        let sig: Signature = parse_quote!(fn f(vision_model: Model));
        assert_eq!(
            run(sig, Some(TEXT)).unwrap_err(),
            ["cannot inject `vision_model: Model`: `vision_model` names the vision kind, which is not requested; add it: models = \"text,vision\""]
        );
        let sig: Signature = parse_quote!(fn f(text_model: Model));
        assert!(run(sig, Some(&[])).unwrap_err()[0].contains("no models are requested"));
    }

    #[test]
    fn invalid_models_option_skips_model_checks() {
        let sig: Signature = parse_quote!(fn f(whatever: Model, judge_model: Model));
        assert_eq!(
            run(sig, None).unwrap(),
            [Injected::Model(Kind::Text), Injected::Model(Kind::Judge)]
        );
    }

    #[test]
    fn uninjectable_parameters() {
        let sig: Signature = parse_quote!(fn f(x: Foo, y: Vec<u8>, ctx: &RecordingContext, embedding_dimension: u32, (a, b): (u8, u8)));
        assert_eq!(
            run(sig, Some(TEXT)).unwrap_err(),
            [
                "cannot inject `x: Foo`: recorded tests take RecordingContext, Client, Model (one per requested kind, named <kind>_model), embedding_dimension: usize or Service",
                "cannot inject `y: Vec<u8>`: recorded tests take RecordingContext, Client, Model (one per requested kind, named <kind>_model), embedding_dimension: usize or Service",
                "cannot inject `ctx: &RecordingContext`: take `RecordingContext` by value, not by reference",
                "cannot inject `embedding_dimension: u32`: the embedding dimension is a `usize`: write `embedding_dimension: usize`",
                "cannot inject `(a, b): (u8, u8)`: recorded tests take RecordingContext, Client, Model (one per requested kind, named <kind>_model), embedding_dimension: usize or Service",
            ]
        );
    }

    #[test]
    fn another_librarys_client_is_not_the_fixture() {
        let sig: Signature = parse_quote!(fn f(
            a: reqwest::Client,
            b: async_openai::Client<OpenAIConfig>,
            c: Client<Config>,
            d: ollama::Client,
        ));
        assert_eq!(
            run(sig, Some(TEXT)).unwrap_err(),
            [
                "cannot inject `a: reqwest::Client`: the `Client` fixture is the recorder's own client (`recorder_runtime::Client`), not `reqwest::Client`: to use it, take `ctx: RecordingContext` and use `ctx.reqwest_client()` (feature `reqwest-middleware`, in process), or point your `reqwest::Client` at `ctx.base_url()`",
                "cannot inject `b: async_openai::Client<OpenAIConfig>`: the `Client` fixture is the recorder's own client (`recorder_runtime::Client`), not `async_openai::Client<OpenAIConfig>`: to use it, take `ctx: RecordingContext` and build yours with `.with_http_service(ctx.openai_service())` (feature `async-openai`, in process), or with `OpenAIConfig::new().with_api_base(ctx.base_url())`",
                "cannot inject `c: Client<Config>`: the `Client` fixture is the recorder's own client (`recorder_runtime::Client`), not `Client<Config>`: to use it, take `ctx: RecordingContext` and point yours at `ctx.base_url()` (OpenAI-style `/v1`) or `ctx.ollama_url()`",
                "cannot inject `d: ollama::Client`: the `Client` fixture is the recorder's own client (`recorder_runtime::Client`), not `ollama::Client`: to use it, take `ctx: RecordingContext` and point yours at `ctx.base_url()` (OpenAI-style `/v1`) or `ctx.ollama_url()`",
            ]
        );
        // The runtime's own, however it is reached.
        let sig: Signature = parse_quote!(fn f(
            a: Client,
            b: recorder_runtime::Client,
            c: ::recorder_runtime::client::Client,
            d: rr::Client,
            e: crate::Client,
        ));
        assert_eq!(run(sig, Some(TEXT)).unwrap(), [Injected::Client; 5]);
    }

    #[test]
    fn methods_are_errors() {
        let sig: Signature = parse_quote!(fn f(&self, client: Client));
        assert_eq!(
            run(sig, Some(TEXT)).unwrap_err(),
            ["#[recorded_test] goes on a free function, not a method: remove `self`"]
        );
    }

    #[test]
    fn kind_names() {
        assert_eq!(kind_of_name("text_model"), Some(Kind::Text));
        assert_eq!(kind_of_name("rerank"), Some(Kind::Rerank));
        assert_eq!(kind_of_name("_judge_model"), Some(Kind::Judge));
        assert_eq!(kind_of_name("model"), None);
        assert_eq!(kind_of_name("texts_model"), None);
    }

    #[test]
    fn calls() {
        assert_eq!(
            Injected::Model(Kind::Embedding)
                .call(Span::call_site())
                .to_string(),
            "fx . model (\"embedding\")"
        );
        assert_eq!(
            Injected::Context.call(Span::call_site()).to_string(),
            "fx . context ()"
        );
    }
}
