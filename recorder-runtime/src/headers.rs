//! Which headers cross the recorder, in each direction, and which are stored.
//!
//! **Requests.** Only [`FORWARDED_HEADERS`] go upstream (plus the credentials below and
//! the setup's own headers); none is ever stored, and none counts for identity.
//! Credentials ([`CREDENTIAL_HEADERS`], and query parameters such as `?key=`, see
//! [`CREDENTIAL_PARAMS`]) are replaced by the setup's key when it has one, else passed
//! through; either way their values are treated as secrets and scrubbed from what is
//! stored, and query credentials are removed from the stored endpoint.
//!
//! **Responses.** A recording keeps what a client may read ([`kept_response_headers`]):
//! request ids (`x-request-id`, `request-id`, ... normalized to `rec-<hash>`), retry hints
//! (`retry-after`, `retry-after-ms`, `x-should-retry`), and on error answers (4xx, 5xx)
//! the rate-limit headers a client backs off by (`x-ratelimit-*`, `ratelimit-*`,
//! `anthropic-ratelimit-*`). On successes those change with every call and would turn
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

/// Query parameters that carry an API key: removed from the stored endpoint, their
/// values scrubbed as secrets.
pub const CREDENTIAL_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "x-api-key",
];

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
            out.insert(
                name.to_owned(),
                crate::normalize::normalized_id(request_hash),
            );
        } else if RETRY_HEADERS.contains(&name)
            || (status >= 400 && RATE_LIMIT_PREFIXES.iter().any(|p| name.starts_with(p)))
            || (is_redirect(status) && REDIRECT_HEADERS.contains(&name))
        {
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
                || (status >= 400 && RATE_LIMIT_PREFIXES.iter().any(|p| name.starts_with(p)))
                || (is_redirect(status) && REDIRECT_HEADERS.contains(&name))
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

/// The secret values of a request's credential headers (`Bearer` removed), by header name.
pub fn credentials_in(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in CREDENTIAL_HEADERS {
        for value in headers.get_all(*name) {
            let Ok(v) = value.to_str() else { continue };
            let v = v.trim();
            let v = ["Bearer ", "bearer ", "Basic ", "basic "]
                .iter()
                .find_map(|p| v.strip_prefix(p))
                .unwrap_or(v)
                .trim();
            if !v.is_empty() {
                out.push(((*name).to_owned(), v.to_owned()));
            }
        }
    }
    out
}

/// Splits credential parameters out of an endpoint's query: the endpoint without them,
/// and their `(name, value)` pairs. `extra` names more parameters (a setup's
/// `auth = { query = "..." }`). An endpoint without such a parameter is returned as is.
///
/// ```
/// use recorder_runtime::headers::strip_credentials;
/// let (endpoint, found) = strip_credentials("/v1beta/models?alt=sse&key=AIza123", &[]);
/// assert_eq!(endpoint, "/v1beta/models?alt=sse");
/// assert_eq!(found, [("key".to_string(), "AIza123".to_string())]);
/// ```
pub fn strip_credentials<'a>(
    endpoint: &'a str,
    extra: &[&str],
) -> (std::borrow::Cow<'a, str>, Vec<(String, String)>) {
    let Some((path, query)) = endpoint.split_once('?') else {
        return (endpoint.into(), Vec::new());
    };
    let is_cred = |name: &str| {
        let decoded = percent_decode(name).to_ascii_lowercase();
        CREDENTIAL_PARAMS.contains(&decoded.as_str())
            || extra.iter().any(|e| e.eq_ignore_ascii_case(&decoded))
    };
    if !query
        .split('&')
        .any(|pair| is_cred(pair.split_once('=').map_or(pair, |(n, _)| n)))
    {
        return (endpoint.into(), Vec::new());
    }
    let mut kept = Vec::new();
    let mut found = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if is_cred(name) {
            if !value.is_empty() {
                found.push((percent_decode(name), percent_decode(value)));
            }
        } else {
            kept.push(pair);
        }
    }
    let endpoint = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    (endpoint.into(), found)
}

/// `%XX` and `+` decoded (invalid escapes kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
