//! The expansion of `#[recorded_test]`: a pure function of the attribute, the item
//! and the resolved configuration ([`expand_with`]), and the entry point that reads
//! `recorder.toml` and the environment ([`recorded_test`]).

use std::path::{Path, PathBuf};

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use recorder_config::{Config, ConfigError, Kind, ProcessEnv, Resolved, TRACKED_ENV};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Item, ItemFn, LitStr};

use crate::args::{self, Args};
use crate::errors::Errors;
use crate::module_guess::Location;
use crate::names::{self, Plan};
use crate::params::{self, Injected};
use crate::{module_guess, runtime_path, suites};

/// What the configuration says for one test.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Setup, models and embedding dimension after the environment.
    pub resolved: Resolved,
    /// The `recorder.toml` read, which rustc is made to track.
    pub tracked_file: Option<PathBuf>,
    /// The folders searched for `recorder.toml` when none was found, nearest first
    /// (for the error of a test that needs it).
    pub searched: Vec<PathBuf>,
    /// The module the macro placed the test in (see [`crate::module_guess`]); the
    /// runtime checks it against the real one under `RECORDER_SUITE`.
    pub placed_in: String,
    /// Why the test is outside the suite `RECORDER_SUITE` selects: every generated
    /// test is then ignored with this reason.
    pub suite_ignore: Option<String>,
    /// Why the macro cannot decide whether the test is in the selected suite: a
    /// compile error.
    pub suite_error: Option<String>,
}

/// Resolves the configuration for a function: called with the `setup = "..."`
/// pin, if any, and the function, which is located by its name and tokens.
pub type Resolve<'a> = dyn Fn(Option<&str>, &ItemFn) -> Result<Resolution, ConfigError> + 'a;

/// Everything the expansion needs from outside the tokens.
pub struct Inputs<'a> {
    /// Resolves the configuration.
    pub resolve: &'a Resolve<'a>,
    /// The runtime's path when no `crate = "..."` is given.
    pub runtime: syn::Path,
}

/// The macro's entry point: reads `recorder.toml` (from `CARGO_MANIFEST_DIR` up)
/// and the process environment, then expands. `source_file` is the file holding the
/// attribute, read to locate the function's module for suites.
pub fn recorded_test(
    args: TokenStream,
    item: TokenStream,
    source_file: Option<&Path>,
) -> TokenStream {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let source_file = source_file.map(|file| {
        if file.is_relative() {
            std::env::current_dir()
                .map(|cwd| cwd.join(file))
                .unwrap_or_else(|_| file.to_path_buf())
        } else {
            file.to_path_buf()
        }
    });
    let resolve = |pinned: Option<&str>, func: &ItemFn| -> Result<Resolution, ConfigError> {
        let config = match &manifest_dir {
            Some(dir) => Config::discover(dir)?,
            None => None,
        };
        // Where the test is only matters for suites.
        let crate_name = std::env::var("CARGO_CRATE_NAME").unwrap_or_default();
        let location = match (&config, &manifest_dir, &source_file) {
            (Some(config), Some(dir), Some(file)) if !config.suites.is_empty() => {
                let function = func.sig.ident.unraw().to_string();
                let print = module_guess::fingerprint(func);
                Location::find(file, dir, &crate_name, &function, print)
            }
            _ => Location {
                crate_name,
                ..Location::default()
            },
        };
        let mut resolution = resolution(config, pinned, func, &location, &ProcessEnv)?;
        if resolution.tracked_file.is_none() {
            resolution.searched = manifest_dir
                .iter()
                .flat_map(|dir| dir.ancestors())
                .map(Path::to_path_buf)
                .collect();
        }
        Ok(resolution)
    };
    expand_with(
        args,
        item,
        &Inputs {
            resolve: &resolve,
            runtime: runtime_path::from_environment(),
        },
    )
}

/// Resolves the configuration for `func` at `location` from `config` and `env`.
pub fn resolution(
    config: Option<Config>,
    pinned: Option<&str>,
    func: &ItemFn,
    location: &Location,
    env: &dyn recorder_config::Env,
) -> Result<Resolution, ConfigError> {
    let module_path = location.module_path();
    let resolved = recorder_config::resolve(config.as_ref(), pinned, module_path, env)?;
    let function = func.sig.ident.unraw().to_string();
    let (suite_ignore, suite_error) = match suites::decide(
        config.as_ref(),
        resolved.suite.as_deref(),
        &function,
        location,
    ) {
        Ok(reason) => (reason, None),
        Err(message) => (None, Some(message)),
    };
    Ok(Resolution {
        resolved,
        tracked_file: config.map(|c| c.path),
        searched: Vec::new(),
        // Same-named candidates agree on the suite (else `suite_error`): any one
        // tells the runtime what was decided.
        placed_in: location
            .modules
            .first()
            .map_or(module_path, String::as_str)
            .to_string(),
        suite_ignore,
        suite_error,
    })
}

/// Expands `#[recorded_test(args)] item` with the configuration from `inputs`.
///
/// On errors the output is every error (each at its token) followed by the item
/// unchanged, so that IDEs and the rest of the crate keep working.
pub fn expand_with(args: TokenStream, item: TokenStream, inputs: &Inputs) -> TokenStream {
    let mut errors = Errors::default();
    let args = args::parse(args, &mut errors);

    let func = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => func,
        Ok(other) => {
            errors.push(syn::Error::new_spanned(
                item_head(&other),
                "#[recorded_test] goes on a function: `async fn name(client: Client, text_model: Model) { ... }`",
            ));
            return with_errors(errors, item);
        }
        Err(err) => {
            errors.push(err);
            return with_errors(errors, item);
        }
    };

    check_signature(&func, &args, &mut errors);
    let runtime = args.krate.as_ref().unwrap_or(&inputs.runtime);
    let runtime_root = runtime
        .segments
        .first()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    let injected = params::analyze(
        &func.sig,
        args.kinds_valid.then_some(&args.kinds[..]),
        &runtime_root,
        &mut errors,
    );

    let pinned = args.setup.as_ref().map(LitStr::value);
    let resolution = match (inputs.resolve)(pinned.as_deref(), &func) {
        Ok(resolution) => {
            if let Some(message) = &resolution.suite_error {
                errors.push(syn::Error::new(
                    func.sig.ident.span(),
                    format!("recorded_test: {message}"),
                ));
            }
            if let Some(err) = no_config_for_models(&args, &resolution) {
                errors.push(err);
            }
            Some(resolution)
        }
        Err(err) => {
            let span = match (&err, &args.setup) {
                (ConfigError::UnknownSetup { name, .. }, Some(lit))
                    if Some(name) == pinned.as_ref() =>
                {
                    lit.span()
                }
                _ => Span::call_site(),
            };
            errors.push(syn::Error::new(span, format!("recorded_test: {err}")));
            None
        }
    };

    match (errors.into_error(), resolution) {
        (None, Some(resolution)) => generate(&func, &args, &injected, &resolution, &inputs.runtime),
        (Some(err), _) => {
            let mut out = err.to_compile_error();
            out.extend(item);
            out
        }
        (None, None) => unreachable!("a failed resolution adds an error"),
    }
}

/// A test that asks for model kinds, with no `recorder.toml` and no variables giving
/// all of them: a compile error naming where the file was looked for and how to make
/// one. (Generated ignored instead, it would let a run pass with nothing tested;
/// failing, it also makes cargo compile again on the next run, once the file exists.)
/// A kind left without a model by an existing file stays an ignored test.
fn no_config_for_models(args: &Args, resolution: &Resolution) -> Option<syn::Error> {
    if resolution.tracked_file.is_some() || !args.kinds_valid {
        return None;
    }
    let missing: Vec<Kind> = args
        .kinds
        .iter()
        .copied()
        .filter(|kind| resolution.resolved.models_for(*kind).is_empty())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let kinds = missing.iter().map(|k| k.as_str()).collect::<Vec<_>>();
    let vars = missing.iter().map(|k| k.env_var()).collect::<Vec<_>>();
    let looked = if resolution.searched.is_empty() {
        "none was searched for: CARGO_MANIFEST_DIR is unset".to_string()
    } else {
        format!(
            "looked in {}",
            resolution
                .searched
                .iter()
                .map(|dir| dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (them, is) = if vars.len() == 1 {
        ("it", "is")
    } else {
        ("them", "are")
    };
    Some(syn::Error::new(
        args.models_span.unwrap_or_else(Span::call_site),
        format!(
            "recorded_test: this test asks for {} models, but no {} was found to take {them} from ({looked}) and {} {is} unset; run `cargo recordings init` in the crate (or its workspace root) to write one, or set {}",
            kinds.join(" and "),
            recorder_config::FILE_NAME,
            vars.join(", "),
            if vars.len() == 1 { "it" } else { "them" },
        ),
    ))
}

fn with_errors(errors: Errors, item: TokenStream) -> TokenStream {
    let mut out = errors
        .into_error()
        .map(|e| e.to_compile_error())
        .unwrap_or_default();
    out.extend(item);
    out
}

/// The item's keyword and name (`struct Answers`), rather than its whole body.
fn item_head(item: &Item) -> TokenStream {
    fn head(keyword: impl ToTokens, ident: &syn::Ident) -> TokenStream {
        quote!(#keyword #ident)
    }
    match item {
        Item::Struct(s) => head(s.struct_token, &s.ident),
        Item::Enum(e) => head(e.enum_token, &e.ident),
        Item::Union(u) => head(u.union_token, &u.ident),
        Item::Mod(m) => head(m.mod_token, &m.ident),
        Item::Const(c) => head(c.const_token, &c.ident),
        Item::Static(s) => head(s.static_token, &s.ident),
        Item::Trait(t) => head(t.trait_token, &t.ident),
        Item::Type(t) => head(t.type_token, &t.ident),
        Item::Impl(i) => i.impl_token.to_token_stream(),
        Item::Use(u) => u.use_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}

fn check_signature(func: &ItemFn, args: &Args, errors: &mut Errors) {
    let sig = &func.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a recorded test cannot be generic: its fixtures have fixed types",
        ));
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            "a recorded test cannot be `unsafe fn`: use an `unsafe` block inside it",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "a recorded test cannot have an `extern` ABI",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "a recorded test cannot be variadic",
        ));
    }
    if sig.asyncness.is_none() {
        if let Some(span) = args.multi_thread {
            errors.push(syn::Error::new(
                span,
                "flavor applies to `async fn` tests only: make the function async or remove the option",
            ));
        }
    }
    for attr in &func.attrs {
        if is_test_attribute(attr) {
            errors.push(syn::Error::new_spanned(
                attr,
                "#[recorded_test] generates the #[test] functions and their runtime: remove this attribute",
            ));
        }
    }
}

/// `#[test]`, `#[tokio::test]` and friends, which would make a second test.
fn is_test_attribute(attr: &Attribute) -> bool {
    let path = attr.path();
    let last = path.segments.last().map(|s| s.ident.to_string());
    path.is_ident("test")
        || (path.segments.len() > 1 && matches!(last.as_deref(), Some("test" | "main")))
}

/// Where a user attribute goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// On the kept function and on every generated test (and `cfg` on the module).
    Both,
    /// Only on the generated tests: `#[should_panic]`, `#[ignore]`.
    Tests,
    /// Only on the kept function: everything else (`#[tracing::instrument]`, ...).
    Function,
}

fn place(attr: &Attribute) -> Place {
    let path = attr.path();
    let Some(ident) = path.get_ident() else {
        return Place::Function;
    };
    match ident.to_string().as_str() {
        "should_panic" | "ignore" => Place::Tests,
        "doc" | "cfg" | "cfg_attr" | "allow" | "warn" | "deny" | "forbid" | "expect" => Place::Both,
        _ => Place::Function,
    }
}

fn generate(
    func: &ItemFn,
    args: &Args,
    injected: &[Injected],
    resolution: &Resolution,
    default_runtime: &syn::Path,
) -> TokenStream {
    let runtime = args
        .krate
        .as_ref()
        .map(crate_path)
        .unwrap_or_else(|| default_runtime.clone());
    let resolved = &resolution.resolved;
    let name = &func.sig.ident;

    let kept_attrs = func.attrs.iter().filter(|a| place(a) != Place::Tests);
    let test_attrs: Vec<&Attribute> = func
        .attrs
        .iter()
        .filter(|a| place(a) != Place::Function)
        .collect();
    let cfg_attrs = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"));
    let vis = &func.vis;
    let sig = &func.sig;
    let block = &func.block;

    // Outside the selected suite: the same tests, ignored with the reason (which
    // wins over a missing model's: the suite is what was asked for).
    let suite_ignore = resolution.suite_ignore.as_deref();
    let plan = names::plan(&args.kinds, |kind| resolved.models_for(kind));
    let tests: Vec<TokenStream> = match &plan {
        Plan::Tests(combos) => combos
            .iter()
            .map(|combo| {
                test_fn(
                    &combo.name,
                    &combo.models,
                    suite_ignore,
                    &test_attrs,
                    func,
                    args,
                    injected,
                    resolution,
                    &runtime,
                )
            })
            .collect(),
        Plan::Unconfigured { name, missing } => {
            let reason = names::ignore_reason(missing);
            vec![test_fn(
                name,
                &[],
                Some(suite_ignore.unwrap_or(&reason)),
                &test_attrs,
                func,
                args,
                injected,
                resolution,
                &runtime,
            )]
        }
    };

    let env_vars = TRACKED_ENV.iter();
    let env_count = Literal::usize_unsuffixed(TRACKED_ENV.len());
    let tracked_file = resolution
        .tracked_file
        .as_deref()
        .and_then(Path::to_str)
        .map(|path| {
            quote!(
                const _: &[u8] = ::core::include_bytes!(#path);
            )
        });

    quote! {
        #(#kept_attrs)*
        #[allow(dead_code)]
        #vis #sig #block

        #(#cfg_attrs)*
        #[allow(non_snake_case)]
        mod #name {
            // Rebuild when these change: the tests above were chosen from them.
            const _: [::core::option::Option<&str>; #env_count] = [#(::core::option_env!(#env_vars)),*];
            #tracked_file
            #(#tests)*
        }
    }
}

/// `crate = "rr"` means the extern crate `::rr`; a path (`crate::rt`, `::a::b`) is
/// used as written.
fn crate_path(path: &syn::Path) -> syn::Path {
    match path.get_ident() {
        Some(ident) if !["crate", "self", "super"].contains(&ident.to_string().as_str()) => {
            syn::parse_quote!(::#ident)
        }
        _ => path.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
fn test_fn(
    test_name: &str,
    models: &[(Kind, String)],
    ignore_reason: Option<&str>,
    attrs: &[&Attribute],
    func: &ItemFn,
    args: &Args,
    injected: &[Injected],
    resolution: &Resolution,
    runtime: &syn::Path,
) -> TokenStream {
    let resolved = &resolution.resolved;
    let test_ident = format_ident!("{}", test_name);
    let name = &func.sig.ident;
    let name_str = name.unraw().to_string();

    let attrs = attrs
        .iter()
        .filter(|a| ignore_reason.is_none() || !a.path().is_ident("ignore"));
    let ignore = ignore_reason.map(|reason| quote!(#[ignore = #reason]));

    let model_pairs = models.iter().map(|(kind, model)| {
        let kind = kind.as_str();
        quote!((#kind, #model))
    });
    let setup = option(resolved.setup.as_deref().map(|s| s.to_token_stream()));
    let mode = option(args.mode.as_deref().map(|m| m.to_token_stream()));
    let timeout = option(
        args.timeout_ms
            .map(|ms| Literal::u64_unsuffixed(ms).into_token_stream()),
    );
    let dimension = Literal::usize_unsuffixed(resolved.embedding_dimension);
    let suite = option(resolved.suite.as_deref().map(|s| s.to_token_stream()));
    let placed_in = &resolution.placed_in;
    let config_file = option(
        resolution
            .tracked_file
            .as_deref()
            .and_then(Path::to_str)
            .map(|path| path.to_token_stream()),
    );
    let multi_thread = args.multi_thread.is_some();
    let worker_threads = option(
        args.worker_threads
            .map(|(n, _)| Literal::usize_unsuffixed(n).into_token_stream()),
    );
    // Every parameter is injected when this runs (else an error was reported).
    let calls = injected.iter().zip(&func.sig.inputs).map(|(i, input)| {
        let span = match input {
            syn::FnArg::Typed(param) => param.ty.span(),
            syn::FnArg::Receiver(receiver) => receiver.span(),
        };
        i.call(span)
    });

    // Errors about the return type (it must be `()` or `Result<(), E: Debug>`)
    // point at the user's signature.
    let output_span = match &func.sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => name.span(),
    };
    // The body is a plain `fn` pointer (and, for async tests, returns a boxed
    // future), so that the runner and tokio's `block_on` are instantiated once per
    // crate rather than once per test: this is what keeps build times close to
    // plain `#[tokio::test]`, which type-erases its future the same way.
    let fixtures = quote!(#runtime::__private::Fixtures);
    let (run, body_type, body) = if func.sig.asyncness.is_some() {
        (
            respan(quote!(#runtime::__private::run_async), output_span),
            quote! {
                fn(#fixtures) -> ::core::pin::Pin<
                    ::std::boxed::Box<dyn ::core::future::Future<Output = _>>,
                >
            },
            quote!(|fx| ::std::boxed::Box::pin(async move { super::#name(#(#calls),*).await })),
        )
    } else {
        (
            respan(quote!(#runtime::__private::run_sync), output_span),
            quote!(fn(#fixtures) -> _),
            quote!(|fx| super::#name(#(#calls),*)),
        )
    };

    let spec = quote! {
        #runtime::__private::TestSpec {
            module_path: ::core::module_path!(),
            name: #name_str,
            models: &[#(#model_pairs),*],
            setup: #setup,
            mode: #mode,
            timeout_ms: #timeout,
            embedding_dimension: #dimension,
            suite: #suite,
            placed_in: #placed_in,
            manifest_dir: ::core::env!("CARGO_MANIFEST_DIR"),
            config_file: #config_file,
            source_file: ::core::file!(),
            multi_thread: #multi_thread,
            worker_threads: #worker_threads,
        }
    };
    // The call carries the span of the return type, so that a return type that is
    // neither `()` nor `Result<(), E: Debug>` is reported there.
    let body_ident = format_ident!("body");
    let call = quote_spanned!(output_span=> #run(#spec, #body_ident));

    quote! {
        #(#attrs)*
        #ignore
        #[::core::prelude::v1::test]
        fn #test_ident() {
            let #body_ident: #body_type = #body;
            #call
        }
    }
}

/// The same tokens, each at `span` (not recursing into groups: for paths).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            tree.set_span(span);
            tree
        })
        .collect()
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

#[cfg(test)]
mod tests;
