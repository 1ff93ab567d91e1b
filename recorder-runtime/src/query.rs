//! Credentials in a request's query (`?key=`, `?token=`, `?sig=`, ...): which
//! parameters carry one, and the endpoint without them. Below every other module, so
//! that both the engine (see [`crate::headers`]) and the identity steps that upgrade
//! older recordings (see [`crate::recording::version`]) strip them the same way.

/// Query parameters that carry a credential, compared without case: removed from the
/// stored endpoint (and so from identity), their values scrubbed as secrets. API keys
/// (`key`: Gemini; `api_key`, ...), tokens (`token`, `access_token`: OAuth 2.0's
/// bearer token in a query, RFC 6750; `id_token`, `refresh_token`, ...), passwords and
/// client secrets, and signed URLs' signatures and credentials (Azure SAS `sig`, AWS
/// SigV4 `X-Amz-Signature`/`X-Amz-Credential`/`X-Amz-Security-Token`, Google
/// `X-Goog-Signature`/`X-Goog-Credential`). Only whole names count: `page_token` or
/// `max_tokens` stay.
pub const CREDENTIAL_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "api-key",
    "apikey",
    "x-api-key",
    "token",
    "access_token",
    "auth_token",
    "api_token",
    "id_token",
    "refresh_token",
    "session_token",
    "auth",
    "authorization",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
];

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
    fn credential_looking_query_parameters_leave_the_endpoint_and_others_stay() {
        let (e, found) = strip_credentials(
            "/v1/files/f/content?token=t0k3n-abcdef&sig=c2lnbmF0dXJl&X-Amz-Signature=abc123&page_token=p2&max_tokens=5&Password=hunter22",
            &[],
        );
        assert_eq!(e, "/v1/files/f/content?page_token=p2&max_tokens=5");
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["token", "sig", "X-Amz-Signature", "Password"]);
    }

    #[test]
    fn an_invalid_escape_is_kept() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
    }
}
