//! Verify mode: a live answer, made into the recording that `record` would write, is
//! compared with the recording on disk instead of written (see [`crate::drift`]).
//!
//! Ids line up by construction: a live answer's new ids get the placeholders `record`
//! gives them ([`crate::idmap::placeholder`]: the issuing request's hash, its
//! occurrence, the id's place among the answer's new ids), and a later request that
//! sends one back is matched with it replaced, as when it was recorded. So a chain
//! (`previous_response_id`, a tool call's id) finds its recordings as long as each
//! answer issues the same ids in the same order; an answer that issues more or fewer
//! shifts the later placeholders, and the request that sends them back shows as
//! missing.

use super::miss::Asked;
use super::{Engine, Scope};
use crate::compare::compare_within;
use crate::drift::{Finding, Outcome};
use crate::recording::Recording;
use crate::store::{Pick, RecordingKey};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

impl Engine {
    /// Compares the recording `rec` (as made from a live answer, not yet normalized)
    /// with the one stored for `key`, and tells the scope what it found. Writes nothing.
    pub(crate) fn verify(&self, scope: &Scope, rec: Recording, key: &RecordingKey) {
        let rec = self.as_stored(scope, rec, key.hash());
        scope.stats.verified.fetch_add(1, Ordering::Relaxed);
        let (file, outcome) = match self.stored(scope, &rec, key) {
            Stored::Found(path, old) => {
                let changes = compare_within(&old, &rec, &scope.target.tolerance);
                let outcome = if changes.is_empty() {
                    Outcome::Same
                } else {
                    Outcome::Changed(changes)
                };
                (Some(path), outcome)
            }
            Stored::Unreadable(path, why) => (Some(path), Outcome::Unreadable(why)),
            Stored::Missing => {
                let asked = Asked {
                    method: &rec.request.method,
                    endpoint: &rec.request.endpoint,
                    body: &rec.request.body,
                };
                let explanation = self.explain_missing(scope, &asked, key.hash());
                let expected = match &rec.test_id {
                    Some(test) => self.store().recording_path(test, key),
                    None => self.store().model_list_path(key.hash(), "*"),
                };
                (Some(expected), Outcome::Missing(explanation))
            }
        };
        let compared = match outcome {
            Outcome::Missing(_) => None,
            _ => file.clone(),
        };
        let finding = Finding {
            test_id: scope.test_id.clone(),
            request: crate::describe::request_title(&rec.request),
            file,
            outcome,
        };
        scope.found(finding, compared);
    }

    /// The recording a live answer is compared with: the test's recording of this
    /// occurrence of the request (past the last recorded occurrence, the last, which
    /// replay would serve), or for a model list the stored list closest to it.
    fn stored(&self, scope: &Scope, rec: &Recording, key: &RecordingKey) -> Stored {
        if rec.test_id.is_none() {
            return self.stored_model_list(scope, rec, key.hash());
        }
        let pick = match scope.recordings() {
            Ok(recordings) => recordings.lock().unwrap().get(key),
            Err(e) => {
                let path = self.store().recording_path(&scope.test_id, key);
                return Stored::Unreadable(path, crate::error::chain(&e));
            }
        };
        match pick {
            Pick::Found(replay) | Pick::Last(replay) => {
                match self.store().read_recording(&replay.path) {
                    Ok(old) => Stored::Found(replay.path.clone(), Box::new(old)),
                    Err(e) => Stored::Unreadable(replay.path.clone(), crate::error::chain(&e)),
                }
            }
            Pick::Broken(e) => Stored::Unreadable(
                self.store().recording_path(&scope.test_id, key),
                crate::error::chain(&*e),
            ),
            Pick::None => Stored::Missing,
        }
    }

    /// Model lists are shared by every test and one file is kept per model set (see
    /// [`crate::store`]): the live list is compared with the stored list of its request
    /// that differs least from it.
    fn stored_model_list(&self, scope: &Scope, rec: &Recording, hash: &str) -> Stored {
        let lists = match self.store().model_lists(hash) {
            Ok(lists) => lists,
            Err(e) => {
                return Stored::Unreadable(
                    self.store().model_list_path(hash, "*"),
                    crate::error::chain(&e),
                )
            }
        };
        lists
            .into_iter()
            .min_by_key(|(path, old)| {
                (
                    compare_within(old, rec, &scope.target.tolerance).len(),
                    path.clone(),
                )
            })
            .map_or(Stored::Missing, |(path, old)| {
                Stored::Found(path, Box::new(old))
            })
    }
}

/// What [`Engine::stored`] found.
enum Stored {
    Found(PathBuf, Box<Recording>),
    Unreadable(PathBuf, String),
    Missing,
}
