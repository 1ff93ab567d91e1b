//! Which headers cross the recorder, in each direction, and which are stored.
//!
//! **Requests.** Only [`FORWARDED_HEADERS`] and MCP's (`mcp-*`, `last-event-id`: see
//! [`crate::mcp`]) go upstream (plus the credentials below and the setup's own
//! headers); none is ever stored, and none counts for identity.
//! Credentials ([`CREDENTIAL_HEADERS`], and query parameters such as `?key=`, see
//! [`CREDENTIAL_PARAMS`]) are replaced by the setup's key when it has one, else passed
//! through; either way their values are treated as secrets and scrubbed from what is
//! stored, and query credentials are removed from the stored endpoint.
//!
//! **Responses.** A recording keeps what a client may read ([`kept_response_headers`]):
//! request ids (`x-request-id`, `request-id`, ... normalized to `rec-<hash>`), retry hints
//! (`retry-after`, `retry-after-ms`, `x-should-retry`), MCP's `mcp-session-id` (as its
//! placeholder, see [`crate::mcp`]) and `mcp-protocol-version`, and on error answers
//! (4xx, 5xx) the rate-limit headers a client backs off by (`x-ratelimit-*`,
//! `ratelimit-*`, `anthropic-ratelimit-*`). On successes those change with every call and would turn
//! every re-recording into a diff, so they are not kept. A redirect (3xx) keeps its
//! `Location`, so that a client knows where it was sent (the recorder follows no
//! redirect to another origin; see `Engine`'s HTTP client). Everything else (`date`,
//! `server`, `set-cookie`, `content-length`, `transfer-encoding`, `connection`,
//! `openai-processing-ms`, organization names, ...) is dropped. The content type is
//! stored on its own.
//!
//! ```
//! use recorder_runtime::headers::kept_response_headers;
//! let mut h = http::HeaderMap::new();
//! h.insert("x-request-id", "req_8f3a".parse().unwrap());
//! h.insert("retry-after", "2".parse().unwrap());
//! h.insert("date", "Tue, 01 Dec 2026 10:00:00 GMT".parse().unwrap());
//! h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
//! let kept = kept_response_headers(429, &h, "0123456789abcdef");
//! assert_eq!(kept.get("x-request-id").map(String::as_str), Some("rec-0123456789ab"));
//! assert_eq!(kept.get("retry-after").map(String::as_str), Some("2"));
//! assert_eq!(kept.get("x-ratelimit-remaining-requests").map(String::as_str), Some("0"));
//! assert!(!kept.contains_key("date"));
//! assert!(!kept_response_headers(200, &h, "0123456789abcdef").contains_key("x-ratelimit-remaining-requests"));
//! ```

pub use crate::query::{strip_credentials, CREDENTIAL_PARAMS};
use http::HeaderMap;
use std::collections::BTreeMap;

/// Request headers that are forwarded upstream (never stored).
pub const FORWARDED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "accept",
    "user-agent",
    "openai-organization",
    "openai-project",
    "openai-beta",
    "anthropic-version",
    "anthropic-beta",
    "idempotency-key",
];

/// Request headers that carry a client's own API key.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "proxy-authorization",
];

/// Authorization schemes also recognized in front of a key in the other credential
/// headers (`x-api-key: Bearer ...`), compared without case. In `Authorization`
/// itself any scheme counts (RFC 9110: `<scheme> <credentials>`, scheme without case).
pub const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "token"];

/// Response headers that name the request, normalized to `rec-<hash>` when stored.
pub const REQUEST_ID_HEADERS: &[&str] = &[
    "x-request-id",
    "request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "apim-request-id",
    "x-ms-request-id",
    "x-correlation-id",
];

/// Response headers kept as they are.
pub const RETRY_HEADERS: &[&str] = &["retry-after", "retry-after-ms", "x-should-retry"];

/// Response headers kept as they are on a redirect (3xx).
pub const REDIRECT_HEADERS: &[&str] = &["location"];

/// Prefixes of the rate-limit headers kept on error answers.
pub const RATE_LIMIT_PREFIXES: &[&str] = &["x-ratelimit-", "ratelimit-", "anthropic-ratelimit-"];

/// The response headers a recording keeps (see the [module docs](self)), by lower-case
/// name, request ids normalized for the request hash.
pub fn kept_response_headers(
    status: u16,
    headers: &HeaderMap,
    request_hash: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        let Ok(value) = value.to_str() else { continue };
        if REQUEST_ID_HEADERS.contains(&name) {
            out.insert(name.to_owned(), crate::idmap::normalized_id(request_hash));
        } else if RETRY_HEADERS.contains(&name)
            || crate::mcp::PASSED_RESPONSE_HEADERS.contains(&name)
            || (status >= 400 && RATE_LIMIT_PREFIXES.iter().any(|p| name.starts_with(p)))
            || (is_redirect(status) && REDIRECT_HEADERS.contains(&name))
        {
            // An MCP session id is replaced by its placeholder once the id map knows it.
            out.insert(name.to_owned(), value.to_owned());
        }
    }
    out
}

/// The same headers as [`kept_response_headers`] with their real values, as a live
/// client sees them.
pub fn passed_response_headers(
    status: u16,
    headers: &HeaderMap,
) -> Vec<(http::HeaderName, http::HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            REQUEST_ID_HEADERS.contains(&name)
                || RETRY_HEADERS.contains(&name)
                || crate::mcp::PASSED_RESPONSE_HEADERS.contains(&name)
                || (status >= 400 && RATE_LIMIT_PREFIXES.iter().any(|p| name.starts_with(p)))
                || (is_redirect(status) && REDIRECT_HEADERS.contains(&name))
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

/// The secret values of a request's credential headers, by header name: the
/// credentials without their scheme (`Bearer`, `BEARER`, `Token`, ... in any case), and
/// for `Basic` also the password it encodes (the user name when there is no password),
/// which an upstream may echo on its own.
///
/// ```
/// use recorder_runtime::headers::credentials_in;
/// let mut h = http::HeaderMap::new();
/// h.insert("authorization", "BEARER sk-live-123456".parse().unwrap());
/// assert_eq!(credentials_in(&h), [("authorization".to_string(), "sk-live-123456".to_string())]);
/// ```
pub fn credentials_in(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // Every request passes here: one walk over the few headers it sent, rather than a
    // lookup (the name parsed and hashed) per credential header.
    for (name, value) in headers {
        let name = name.as_str();
        if !CREDENTIAL_HEADERS.contains(&name) {
            continue;
        }
        let any_scheme = name == "authorization" || name == "proxy-authorization";
        let v = String::from_utf8_lossy(value.as_bytes());
        let v = v.trim();
        let (scheme, credential) = match v.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((scheme, rest))
                if is_token(scheme)
                    && (any_scheme || AUTH_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme))) =>
            {
                (Some(scheme), rest.trim())
            }
            _ => (None, v),
        };
        if credential.is_empty() {
            continue;
        }
        out.push((name.to_owned(), credential.to_owned()));
        if scheme.is_some_and(|s| s.eq_ignore_ascii_case("basic")) {
            if let Some(inner) = basic_secret(credential) {
                out.push((name.to_owned(), inner));
            }
        }
    }
    out
}

/// An HTTP token (RFC 9110 `tchar`s): what an authorization scheme is made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The secret part of `Basic` credentials (`base64(user:password)`): the password, or
/// the user name when the password is empty (APIs that take the key as the user).
fn basic_secret(credential: &str) -> Option<String> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credential)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    let secret = if password.is_empty() { user } else { password };
    (!secret.is_empty()).then(|| secret.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_schemes_are_read_in_any_case_and_basic_gives_its_password() {
        use base64::Engine as _;
        let creds = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            credentials_in(&h)
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        };
        for value in [
            "Bearer sk-abcdef123456",
            "BEARER sk-abcdef123456",
            "bEaReR   sk-abcdef123456 ",
            "Token sk-abcdef123456",
            "sk-abcdef123456",
        ] {
            assert_eq!(
                creds("authorization", value),
                ["sk-abcdef123456"],
                "{value}"
            );
        }
        assert_eq!(
            creds("x-api-key", "TOKEN sk-abcdef123456"),
            ["sk-abcdef123456"]
        );
        // Any scheme in Authorization; not in the key headers, whose value is the key.
        assert_eq!(creds("authorization", "Key sk-abc 123"), ["sk-abc 123"]);
        assert_eq!(creds("x-api-key", "Key sk-abc 123"), ["Key sk-abc 123"]);
        let basic = base64::engine::general_purpose::STANDARD.encode("me:pa55-w0rd-xyz");
        assert_eq!(
            creds("authorization", &format!("BASIC {basic}")),
            [basic.clone(), "pa55-w0rd-xyz".to_string()]
        );
        let user_only = base64::engine::general_purpose::STANDARD.encode("sk_live_user_as_key:");
        assert_eq!(
            creds("authorization", &format!("basic {user_only}")),
            [user_only.clone(), "sk_live_user_as_key".to_string()]
        );
    }

    #[test]
    fn credentials_come_out_of_headers_and_queries() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer sk-live-123456".parse().unwrap());
        h.insert("x-api-key", "sk-ant-987654".parse().unwrap());
        assert_eq!(
            credentials_in(&h),
            [
                ("authorization".to_string(), "sk-live-123456".to_string()),
                ("x-api-key".to_string(), "sk-ant-987654".to_string())
            ]
        );
        let (e, found) = strip_credentials(
            "/v1/x?api_key=abc%2Fdef&after=msg_1&token_id=9",
            &["token_id"],
        );
        assert_eq!(e, "/v1/x?after=msg_1");
        assert_eq!(
            found,
            [
                ("api_key".into(), "abc/def".into()),
                ("token_id".into(), "9".into())
            ]
        );
        assert_eq!(
            strip_credentials("/v1/x?keyword=a", &[]).0,
            "/v1/x?keyword=a"
        );
        assert_eq!(strip_credentials("/v1/x?key=a", &[]).0, "/v1/x");
    }
}
