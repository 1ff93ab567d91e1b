//! Explaining a replay miss: the test, the request, the file that would have answered
//! it, the closest recording of the same test with a JSON diff, and the command that
//! records it.

use super::{Engine, Scope};
use crate::diff;
use crate::identity::{is_model_list, RequestIdentity};
use crate::store::RecordingKey;

/// A request as a miss is explained: what identity saw of it.
pub(crate) struct Asked<'a> {
    pub(crate) method: &'a str,
    pub(crate) endpoint: &'a str,
    pub(crate) body: &'a serde_json::Value,
}

impl Engine {
    pub(crate) fn explain_miss(
        &self,
        scope: &Scope,
        ident: &RequestIdentity,
        hash: &str,
    ) -> String {
        let asked = Asked {
            method: ident.method(),
            endpoint: ident.endpoint(),
            body: ident.body(),
        };
        self.explain_missing(scope, &asked, hash)
    }

    /// [`Engine::explain_miss`] for a request known by its parts (verify mode has its
    /// would-be recording's).
    pub(crate) fn explain_missing(&self, scope: &Scope, ident: &Asked<'_>, hash: &str) -> String {
        let mut msg = format!(
            "no recording for {} {} in {} (request hash {})\n  expected file: {}\n",
            ident.method,
            ident.endpoint,
            scope.who(),
            &hash[..16],
            if is_model_list(ident.method, ident.endpoint) {
                self.store()
                    .model_list_path(hash, "*")
                    .display()
                    .to_string()
            } else {
                self.store()
                    .recording_path(&scope.test_id, &RecordingKey::first(hash))
                    .display()
                    .to_string()
            }
        );
        let closest = scope.recordings().ok().and_then(|recs| {
            let recs = recs.lock().unwrap();
            recs.replays()
                .map(|r| {
                    let same_route =
                        r.request.method == ident.method && r.request.endpoint == ident.endpoint;
                    let changes = diff::diff(&r.request.body, ident.body);
                    (
                        !same_route,
                        changes.len(),
                        r.path.clone(),
                        r.request.method.clone(),
                        r.request.endpoint.clone(),
                        changes,
                    )
                })
                .min_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)))
        });
        match closest {
            Some((_, _, path, method, endpoint, changes)) => {
                msg.push_str(&format!(
                    "  closest recording of this test: {} ({method} {endpoint})\n",
                    path.display()
                ));
                if method != ident.method || endpoint != ident.endpoint {
                    msg.push_str(&format!(
                        "    it was recorded for {method} {endpoint}, this request is {} {}\n",
                        ident.method, ident.endpoint
                    ));
                }
                if changes.is_empty() {
                    msg.push_str(
                        "    the bodies are equal: the request differs in method or endpoint\n",
                    );
                } else {
                    msg.push_str("    body differences (recorded | requested):\n");
                    msg.push_str(&diff::render(&changes, 20));
                }
            }
            None => msg.push_str("  this test has no recordings yet\n"),
        }
        if scope.test_id.is_empty() {
            // serve's shared scope: answered by position in the whole run.
            msg.push_str(
                "  requests without a test id share `_shared/` and are matched by their order in the whole run: send the X-Recorder-Test-Id header, or tell serve which test runs (POST /_recorder/begin)\n",
            );
        }
        msg.push_str(&format!(
            "  to record it: {}",
            scope.rerun_in(crate::Mode::RecordIfMissing)
        ));
        msg
    }
}
