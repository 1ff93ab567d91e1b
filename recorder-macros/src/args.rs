//! The attribute's arguments: `models = "text,embedding", setup = "gpt", mode = "live",
//! timeout = "30s", flavor = "multi_thread", worker_threads = 2, crate = "rr"`.

use proc_macro2::{Span, TokenStream};
use recorder_config::{closest, Kind};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Ident, Lit, LitInt, LitStr, Token};

use crate::errors::Errors;

/// The options the attribute accepts, in the order the docs list them.
pub const OPTIONS: &[&str] = &[
    "models",
    "setup",
    "mode",
    "timeout",
    "flavor",
    "worker_threads",
    "crate",
];

/// The values of `mode = "..."`: the five modes of `RECORD_MODE`.
pub const MODES: &[&str] = &["replay", "record-if-missing", "record", "live", "verify"];

/// The parsed arguments. Invalid options are reported and left at their default.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Requested kinds, in the order written, without duplicates.
    pub kinds: Vec<Kind>,
    /// False when `models = "..."` had an error: checks of model parameters are
    /// then skipped so that one mistake is reported once.
    pub kinds_valid: bool,
    /// Where `models = "..."` is, for errors about the models it asks for.
    pub models_span: Option<Span>,
    /// `setup = "..."`.
    pub setup: Option<LitStr>,
    /// `mode = "..."`, one of [`MODES`].
    pub mode: Option<String>,
    /// `timeout = "..."` in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `flavor = "multi_thread"`, with its span for errors.
    pub multi_thread: Option<Span>,
    /// `worker_threads = n`.
    pub worker_threads: Option<(usize, Span)>,
    /// `crate = "..."`: the path to the runtime.
    pub krate: Option<syn::Path>,
}

struct Opt {
    name: Ident,
    value: Expr,
}

fn parse_opts(input: ParseStream) -> syn::Result<Vec<Opt>> {
    let mut opts = Vec::new();
    while !input.is_empty() {
        let name = input.call(Ident::parse_any)?;
        input.parse::<Token![=]>().map_err(|err| {
            syn::Error::new(
                err.span(),
                format!("expected `=` after `{name}`, e.g. models = \"text\""),
            )
        })?;
        let value: Expr = input.parse()?;
        opts.push(Opt { name, value });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(opts)
}

/// Parses the attribute's tokens. Every problem is added to `errors`; the returned
/// [`Args`] holds whatever was valid.
pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args {
        kinds_valid: true,
        ..Args::default()
    };
    let opts = match parse_opts.parse2(tokens) {
        Ok(opts) => opts,
        Err(err) => {
            errors.push(err);
            args.kinds_valid = false;
            return args;
        }
    };

    let mut seen: Vec<String> = Vec::new();
    let mut flavor_current_thread: Option<Span> = None;
    for Opt { name, value } in opts {
        let key = name.unraw().to_string();
        if !OPTIONS.contains(&key.as_str()) {
            let mut message = format!("unknown option `{key}`");
            if let Some(near) = closest(&key, OPTIONS) {
                message.push_str(&format!(" (did you mean `{near}`?)"));
            }
            message.push_str(&format!("; valid options: {}", OPTIONS.join(", ")));
            errors.push(syn::Error::new(name.span(), message));
            if key == "model" || key == "kinds" {
                args.kinds_valid = false;
            }
            continue;
        }
        if seen.contains(&key) {
            errors.push(syn::Error::new(
                name.span(),
                format!("duplicate option `{key}`: give it once"),
            ));
            continue;
        }
        seen.push(key.clone());

        match key.as_str() {
            "models" => match string(&value, "models = \"text,embedding\"", errors) {
                Some(lit) => {
                    args.models_span = Some(lit.span());
                    parse_kinds(&lit, &mut args, errors)
                }
                None => args.kinds_valid = false,
            },
            "setup" => {
                if let Some(lit) = string(&value, "setup = \"gpt\"", errors) {
                    if lit.value().trim().is_empty() {
                        errors.push(syn::Error::new(
                            lit.span(),
                            "empty setup name: name one of the setups of recorder.toml",
                        ));
                    } else {
                        args.setup = Some(LitStr::new(lit.value().trim(), lit.span()));
                    }
                }
            }
            "mode" => {
                if let Some(lit) = string(&value, "mode = \"live\"", errors) {
                    let mode = lit.value();
                    if MODES.contains(&mode.as_str()) {
                        args.mode = Some(mode);
                    } else {
                        errors.push(syn::Error::new(
                            lit.span(),
                            format!("invalid mode `{mode}`; valid modes: {}", MODES.join(", ")),
                        ));
                    }
                }
            }
            "timeout" => {
                if let Some(lit) = string(&value, "timeout = \"30s\"", errors) {
                    match parse_timeout(&lit.value()) {
                        Ok(ms) => args.timeout_ms = Some(ms),
                        Err(message) => errors.push(syn::Error::new(lit.span(), message)),
                    }
                }
            }
            "flavor" => {
                if let Some(lit) = string(&value, "flavor = \"multi_thread\"", errors) {
                    match lit.value().as_str() {
                        "multi_thread" => args.multi_thread = Some(lit.span()),
                        "current_thread" => flavor_current_thread = Some(lit.span()),
                        other => errors.push(syn::Error::new(
                            lit.span(),
                            format!(
                                "invalid flavor `{other}`; valid flavors: current_thread (the default), multi_thread"
                            ),
                        )),
                    }
                }
            }
            "worker_threads" => {
                if let Some(lit) = integer(&value, errors) {
                    match lit.base10_parse::<usize>() {
                        Ok(n) if n > 0 => args.worker_threads = Some((n, lit.span())),
                        _ => errors.push(syn::Error::new(
                            lit.span(),
                            "worker_threads must be a positive number, e.g. worker_threads = 2",
                        )),
                    }
                }
            }
            "crate" => {
                if let Some(lit) = string(&value, "crate = \"recorder_runtime\"", errors) {
                    match lit.parse::<syn::Path>() {
                        Ok(path) => args.krate = Some(path),
                        Err(_) => errors.push(syn::Error::new(
                            lit.span(),
                            format!(
                                "`{}` is not a crate name or path; give the name the runtime has in Cargo.toml, e.g. crate = \"rr\"",
                                lit.value()
                            ),
                        )),
                    }
                }
            }
            _ => unreachable!("every option is handled"),
        }
    }

    if let Some((_, span)) = args.worker_threads {
        if args.multi_thread.is_none() {
            let message = if flavor_current_thread.is_some() {
                "worker_threads needs flavor = \"multi_thread\"; the current_thread flavor has one thread"
            } else {
                "worker_threads needs flavor = \"multi_thread\" (the default flavor is current_thread)"
            };
            errors.push(syn::Error::new(span, message));
        }
    }
    args
}

fn parse_kinds(lit: &LitStr, args: &mut Args, errors: &mut Errors) {
    let text = lit.value();
    let mut any = false;
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        any = true;
        match part.parse::<Kind>() {
            Ok(kind) if args.kinds.contains(&kind) => {
                args.kinds_valid = false;
                errors.push(syn::Error::new(
                    lit.span(),
                    format!("kind `{kind}` is requested twice in models = \"{text}\""),
                ));
            }
            Ok(kind) => args.kinds.push(kind),
            Err(err) => {
                args.kinds_valid = false;
                let mut message = format!("unknown model kind `{}` in models", err.name);
                let names = Kind::ALL.map(Kind::as_str);
                if let Some(near) = closest(&err.name, &names) {
                    message.push_str(&format!(" (did you mean `{near}`?)"));
                }
                message.push_str(&format!("; valid kinds: {}", Kind::valid_names()));
                errors.push(syn::Error::new(lit.span(), message));
            }
        }
    }
    if !any {
        args.kinds_valid = false;
        errors.push(syn::Error::new(
            lit.span(),
            format!(
                "models = \"\" names no kind; list kinds such as \"text,embedding\" (valid kinds: {}), or leave the option out",
                Kind::valid_names()
            ),
        ));
    }
}

fn string(value: &Expr, example: &str, errors: &mut Errors) -> Option<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("expected a string literal, e.g. {example}"),
            ));
            None
        }
    }
}

fn integer(value: &Expr, errors: &mut Errors) -> Option<LitInt> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => Some(lit.clone()),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                "expected a number, e.g. worker_threads = 2",
            ));
            None
        }
    }
}

/// Parses `500ms`, `30s` or `2m` into milliseconds.
pub fn parse_timeout(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid timeout `{text}`: give a whole number and a unit, e.g. \"500ms\", \"30s\" or \"2m\""
        )
    };
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return Err(bad()),
    };
    match number.checked_mul(factor) {
        Some(0) => Err(format!(
            "invalid timeout `{text}`: it must be longer than zero"
        )),
        Some(ms) => Ok(ms),
        None => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_ok(tokens: TokenStream) -> Args {
        let mut errors = Errors::default();
        let args = parse(tokens, &mut errors);
        if let Some(err) = errors.into_error() {
            panic!("unexpected errors: {:?}", messages(&err));
        }
        args
    }

    fn parse_err(tokens: TokenStream) -> (Args, Vec<String>) {
        let mut errors = Errors::default();
        let args = parse(tokens, &mut errors);
        let err = errors.into_error().expect("an error");
        (args, messages(&err))
    }

    fn messages(err: &syn::Error) -> Vec<String> {
        err.clone().into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn empty_is_the_default() {
        let args = parse_ok(quote!());
        assert!(args.kinds.is_empty());
        assert!(args.kinds_valid);
        assert!(args.setup.is_none() && args.mode.is_none() && args.timeout_ms.is_none());
        assert!(
            args.multi_thread.is_none() && args.worker_threads.is_none() && args.krate.is_none()
        );
    }

    #[test]
    fn parses_every_option() {
        let args = parse_ok(quote!(
            models = " text , Embedding ",
            setup = "gpt",
            mode = "record-if-missing",
            timeout = "2m",
            flavor = "multi_thread",
            worker_threads = 2,
            crate = "rr",
        ));
        assert_eq!(args.kinds, [Kind::Text, Kind::Embedding]);
        assert_eq!(args.setup.unwrap().value(), "gpt");
        assert_eq!(args.mode.as_deref(), Some("record-if-missing"));
        assert_eq!(args.timeout_ms, Some(120_000));
        assert!(args.multi_thread.is_some());
        assert_eq!(args.worker_threads.map(|(n, _)| n), Some(2));
        let krate = args.krate.unwrap();
        assert_eq!(quote!(#krate).to_string(), "rr");
    }

    #[test]
    fn kinds_keep_the_written_order() {
        let args = parse_ok(quote!(models = "judge,text,vision"));
        assert_eq!(args.kinds, [Kind::Judge, Kind::Text, Kind::Vision]);
    }

    #[test]
    fn crate_accepts_paths() {
        let args = parse_ok(quote!(crate = "::deps::rr"));
        let krate = args.krate.unwrap();
        assert_eq!(quote!(#krate).to_string(), ":: deps :: rr");
    }

    #[test]
    fn unknown_option_lists_valid_ones_and_suggests() {
        let (_, msgs) = parse_err(quote!(modles = "text"));
        assert_eq!(
            msgs,
            ["unknown option `modles` (did you mean `models`?); valid options: models, setup, mode, timeout, flavor, worker_threads, crate"]
        );
        let (_, msgs) = parse_err(quote!(retries = 3));
        assert_eq!(
            msgs,
            ["unknown option `retries`; valid options: models, setup, mode, timeout, flavor, worker_threads, crate"]
        );
    }

    #[test]
    fn duplicate_option() {
        let (args, msgs) = parse_err(quote!(models = "text", models = "vision"));
        assert_eq!(msgs, ["duplicate option `models`: give it once"]);
        assert_eq!(args.kinds, [Kind::Text], "the first one counts");
    }

    #[test]
    fn unknown_and_duplicate_kinds() {
        let (args, msgs) = parse_err(quote!(models = "text,txet,embeding"));
        assert_eq!(
            msgs,
            [
                "unknown model kind `txet` in models (did you mean `text`?); valid kinds: text, vision, embedding, rerank, safety, judge",
                "unknown model kind `embeding` in models (did you mean `embedding`?); valid kinds: text, vision, embedding, rerank, safety, judge",
            ]
        );
        assert!(!args.kinds_valid);
        let (_, msgs) = parse_err(quote!(models = "text,text"));
        assert_eq!(
            msgs,
            ["kind `text` is requested twice in models = \"text,text\""]
        );
        let (_, msgs) = parse_err(quote!(models = " , "));
        assert!(
            msgs[0].starts_with("models = \"\" names no kind"),
            "{msgs:?}"
        );
    }

    #[test]
    fn values_of_the_wrong_type() {
        let (_, msgs) = parse_err(quote!(models = text, worker_threads = "2"));
        assert_eq!(
            msgs,
            [
                "expected a string literal, e.g. models = \"text,embedding\"",
                "expected a number, e.g. worker_threads = 2",
            ]
        );
    }

    #[test]
    fn bad_values() {
        let (_, msgs) = parse_err(quote!(
            mode = "replay-only",
            timeout = "30",
            flavor = "threaded",
            setup = " "
        ));
        assert_eq!(
            msgs,
            [
                "invalid mode `replay-only`; valid modes: replay, record-if-missing, record, live, verify",
                "invalid timeout `30`: give a whole number and a unit, e.g. \"500ms\", \"30s\" or \"2m\"",
                "invalid flavor `threaded`; valid flavors: current_thread (the default), multi_thread",
                "empty setup name: name one of the setups of recorder.toml",
            ]
        );
        let (_, msgs) = parse_err(quote!(crate = "not a path"));
        assert!(msgs[0].contains("is not a crate name or path"), "{msgs:?}");
    }

    #[test]
    fn worker_threads_needs_multi_thread() {
        let (_, msgs) = parse_err(quote!(worker_threads = 2));
        assert_eq!(
            msgs,
            ["worker_threads needs flavor = \"multi_thread\" (the default flavor is current_thread)"]
        );
        let (_, msgs) = parse_err(quote!(flavor = "current_thread", worker_threads = 2));
        assert!(msgs[0].contains("current_thread flavor has one thread"));
        let (_, msgs) = parse_err(quote!(flavor = "multi_thread", worker_threads = 0));
        assert!(msgs[0].contains("positive"));
    }

    #[test]
    fn syntax_errors() {
        let (args, msgs) = parse_err(quote!(models "text"));
        assert_eq!(
            msgs,
            ["expected `=` after `models`, e.g. models = \"text\""]
        );
        assert!(!args.kinds_valid);
        let (_, msgs) = parse_err(quote!(models = "text" mode = "live"));
        assert_eq!(msgs, ["expected `,`"]);
    }

    #[test]
    fn all_errors_at_once() {
        let (_, msgs) = parse_err(quote!(
            models = "text,chat",
            modle = "x",
            mode = "fast",
            mode = "live",
            timeout = "1h"
        ));
        assert_eq!(msgs.len(), 5, "{msgs:?}");
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("500ms"), Ok(500));
        assert_eq!(parse_timeout("30s"), Ok(30_000));
        assert_eq!(parse_timeout("2m"), Ok(120_000));
        assert_eq!(parse_timeout(" 1 s "), Ok(1_000));
        for bad in [
            "",
            "30",
            "s",
            "1.5s",
            "-1s",
            "1h",
            "30 sec",
            "99999999999999999999m",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        assert!(parse_timeout("0s")
            .unwrap_err()
            .contains("longer than zero"));
    }

    #[test]
    fn edit_distances() {
        use recorder_config::edit_distance;
        assert_eq!(edit_distance("models", "models"), 0);
        assert_eq!(edit_distance("modles", "models"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("setpu", OPTIONS), Some("setup"));
        assert_eq!(closest("zzz", OPTIONS), None);
    }
}
