//! What identity sees of a request: the bytes and endpoint a recording is matched and
//! stored by, which are not always the ones on the wire.
//!
//! In order:
//! 1. credentials the request carries (headers, `?key=`, `?token=`, ...) become secrets
//!    of the test, and query credentials leave the endpoint (see [`crate::headers`]),
//!    before anything else, so that the body is scrubbed with them too;
//! 2. a compressed body is decoded (see [`crate::compression`]);
//! 3. a `multipart/form-data` body becomes its parsed parts, each part's content
//!    scrubbed before it is described and hashed (see [`crate::multipart`]);
//! 4. real ids the upstream issued earlier in the test become their placeholders,
//!    and server-issued ids it never saw issued become placeholders derived from
//!    themselves, in every mode (see [`crate::idmap`]);
//! 5. secrets become `<redacted:VAR>` in string values and the endpoint, however they
//!    are spelled (as they are, percent-encoded, in base64), so that what is hashed is
//!    what is stored (see [`crate::secrets`]).
//!
//! A plain JSON request of a test that knows no ids and no secrets goes through
//! untouched, borrowed: the replay hot path pays a few header lookups. It looks the
//! bytes up between steps 1-3 ([`received`]) and 4-5 ([`finish`]): a request that is
//! byte for byte a recording's has nothing left for steps 4 and 5 to change.

use super::{EngineRequest, Scope};
use crate::error::Result;
use crate::secrets::Scrubber;
use std::borrow::Cow;

/// A request's endpoint and body as identity sees them.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub(crate) endpoint: Cow<'a, str>,
    pub(crate) body: Cow<'a, [u8]>,
}

#[cfg(test)]
pub(crate) fn prepare<'a>(scope: &Scope, req: &'a EngineRequest) -> Result<Prepared<'a>> {
    Ok(finish(scope, received(scope, req)?).0)
}

/// Steps 1 to 3, and the ids the test knows (the first half of step 4): what the
/// request is once its credentials are known, its body decoded and its known ids
/// replaced.
///
/// A request that is then byte for byte a recording's request needs nothing more:
/// that request went through [`finish`] when it was recorded (or migrated), so it
/// holds no id `finish` would derive a placeholder for, and no secret the test knew
/// then. The replay hot path looks such bytes up before [`finish`], which would
/// otherwise parse every body that has an `id` key.
pub(crate) fn received<'a>(scope: &Scope, req: &'a EngineRequest) -> Result<Prepared<'a>> {
    let mut endpoint: Cow<'a, str> = Cow::Borrowed(&req.endpoint);
    let mut body: Cow<'a, [u8]> = Cow::Borrowed(&req.body);
    if !req.headers.is_empty() {
        let credentials = crate::headers::credentials_in(&req.headers);
        if !credentials.is_empty() {
            scope.add_secrets(credentials);
        }
    }
    if req.endpoint.contains('?') {
        let extra: Vec<&str> = scope
            .target
            .auth_query_for(&req.endpoint)
            .into_iter()
            .collect();
        let (stripped, found) = crate::headers::strip_credentials(&req.endpoint, &extra);
        if !found.is_empty() {
            scope.add_secrets(found);
        }
        endpoint = stripped;
    }
    if !req.headers.is_empty() {
        if let Some(coding) = req
            .headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
        {
            let codings = crate::compression::Codings::parse(coding)?;
            if !codings.is_identity() {
                let limit = scope.max_body_bytes();
                body = Cow::Owned(crate::compression::decode_request(&codings, &body, limit)?);
            }
        }
        if let Some(boundary) = req
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::multipart::boundary_of)
        {
            let limits = crate::multipart::Limits {
                max_parts: scope.vars().max_multipart_parts(),
            };
            let parts = crate::multipart::describe(&body, &boundary, &scope.scrubber(), &limits)?;
            body = Cow::Owned(serde_json::to_vec(&parts).expect("parts serialize"));
        }
    }
    if scope.has_ids() {
        let ids = scope.ids();
        if let Cow::Owned(e) = ids.substitute(&endpoint) {
            endpoint = Cow::Owned(e);
        }
        if let Cow::Owned(b) = ids.substitute_bytes(&body) {
            body = Cow::Owned(b);
        }
    }
    Ok(Prepared { endpoint, body })
}

/// Steps 4 (ids no answer of the test issued) and 5 (secrets), after [`received`];
/// and whether they changed anything.
pub(crate) fn finish<'a>(scope: &Scope, received: Prepared<'a>) -> (Prepared<'a>, bool) {
    let Prepared {
        mut endpoint,
        mut body,
    } = received;
    let mut changed = false;
    let derived = if scope.has_ids() {
        crate::idmap::unknown_sent_back(&endpoint, &body, &scope.ids())
    } else {
        crate::idmap::unknown_sent_back(&endpoint, &body, &crate::idmap::IdMap::default())
    };
    if !derived.is_empty() {
        if let Cow::Owned(e) = derived.substitute_tokens(&endpoint) {
            endpoint = Cow::Owned(e);
            changed = true;
        }
        if let Cow::Owned(b) = derived.substitute_bytes(&body) {
            body = Cow::Owned(b);
            changed = true;
        }
        // Recording: a later answer that shows the id gets the same placeholder.
        if scope.mode.writes() {
            let mut ids = scope.ids();
            ids.extend_from(&derived);
            scope.ids_changed(&ids);
        }
    }
    if scope.has_secrets() {
        let scrubber = scope.scrubber();
        if let Cow::Owned(e) = scrubber.scrub_str(&endpoint) {
            endpoint = Cow::Owned(e);
            changed = true;
        }
        if let Some(b) = scrub_body(&body, &scrubber) {
            body = Cow::Owned(b);
            changed = true;
        }
    }
    (Prepared { endpoint, body }, changed)
}

/// The body with secrets replaced in its JSON string values (never in keys), or in
/// its bytes when it is not JSON; `None` when it holds none.
fn scrub_body(body: &[u8], scrubber: &Scrubber) -> Option<Vec<u8>> {
    let bytes = scrubber.scrub_bytes(body);
    // A JSON string may spell a secret with escapes (`\/`): look inside those too.
    if matches!(bytes, Cow::Borrowed(_)) && memchr::memchr(b'\\', body).is_none() {
        return None;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => (scrubber.scrub_value(&mut v) > 0)
            .then(|| serde_json::to_vec(&v).expect("a JSON value serializes")),
        Err(_) => match bytes {
            Cow::Owned(b) => Some(b),
            Cow::Borrowed(_) => None,
        },
    }
}
