//! Going upstream (record, live and verify modes) and writing what came back.
//!
//! The request goes out as the client sent it (real ids, compressed body and all),
//! with the setup's key and headers. The answer is decoded, its new ids get
//! placeholders before the client sees them (so that its next request can be matched),
//! and it is written normalized and scrubbed, atomically. A stream passes through
//! chunk by chunk while it is recorded; a client that stops reading does not cut the
//! recording short. In verify mode the recording is made the same way and compared
//! with the one on disk instead of written (see `verify`).
//!
//! `forward` sends and dispatches; `upstream_request` builds what goes upstream (URL,
//! auth, headers, body); `record_whole` and `record_stream` turn a whole answer or a
//! stream into the client's response and, in the record modes, a recording; `keep`
//! writes it (`save`) or, verifying, compares it.

use super::held::HeldFrames;
use super::{
    background, task, Engine, EngineRequest, EngineResponse, Performed, ResponseBody, Scope, AnswerSource,
};
use crate::body::BodyStream;
use crate::compression::{Codings, StreamDecoder};
use crate::error::{Error, Result};
use crate::identity::RequestIdentity;
use crate::idmap::{is_id_like, Issuer, IDS_FILE};
use crate::normalize::normalize_value;
use crate::recording::{RecordedRequest, RecordedResponse, Recording};
use crate::store::{RecordingKey, Replay, Saved};
use crate::stream::{FrameParser, StreamFormat};
use bytes::Bytes;
use http::HeaderValue;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// One upstream answer on its way to the client and to its recording: what
/// [`Engine::forward`] learnt from the request and the answer's head, for
/// [`Engine::record_whole`] and [`Engine::record_stream`].
struct Answer {
    /// The recording this answer becomes.
    key: RecordingKey,
    /// The upstream URL without credentials, for errors.
    url: String,
    status: u16,
    content_type: Option<String>,
    codings: Codings,
    /// The response headers the client gets.
    passed: Vec<(http::HeaderName, HeaderValue)>,
    /// The response headers the recording keeps.
    kept: BTreeMap<String, String>,
    /// The request half of the recording.
    request: RecordedRequest,
    test_id: Option<String>,
    /// Gives the ids the answer issues their placeholders (it knows the request as the
    /// client sent it, whose ids are the client's own).
    issuer: Issuer,
    source: AnswerSource,
    /// `RECORDER_MAX_BODY_BYTES` under the test's setup.
    limit: usize,
    /// For an open-ended stream (an MCP session's GET): when to stop recording it.
    open: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Engine {
    /// Sends a request upstream (record and live modes), or takes the answer a front
    /// end `performed` itself, and answers with what came back, recording it in the
    /// record modes: a whole answer, or a stream passed on chunk by chunk.
    pub(crate) async fn forward(
        &self,
        scope: &Arc<Scope>,
        req: EngineRequest,
        ident: RequestIdentity,
        key: RecordingKey,
        performed: Option<Performed>,
    ) -> Result<EngineResponse> {
        if scope.mode.reads() {
            if let Some((name, value)) = crate::mcp::foreign_header(&req.headers) {
                let request = format!("{} {}", req.method, req.endpoint);
                let msg = crate::mcp::foreign_message(
                    &request,
                    &scope.test_id,
                    &scope.test_filter,
                    name,
                    value,
                );
                scope.problem(msg.clone());
                return Err(Error::Miss(msg));
            }
        }
        // The one check before any call goes upstream, whatever the mode (an exchange a
        // front end performed has happened already, and MCP answers carry no usage).
        if performed.is_none() {
            super::budget::check(scope, &req).inspect_err(|e| scope.problem(e.to_string()))?;
        }
        // Ids a replayed answer gave the client, which the real API never issued: an
        // error answer to such a request is not recorded (see `record_whole`).
        let foreign: Vec<String> = if scope.mode.reads() {
            let canonical = ident.canonical();
            scope
                .ids()
                .foreign_placeholders(&canonical)
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            Vec::new()
        };
        let request_text = format!("{} {}", req.endpoint, String::from_utf8_lossy(&req.body));
        let (upstream, url) = match performed {
            // A front end that reached the upstream itself (stdio) hands its answer over.
            Some(p) => (reqwest::Response::from(p.response), p.upstream),
            None => {
                let (builder, url) = self.upstream_request(scope, &req)?;
                let sent = background()
                    .spawn(task(async move { builder.send().await }))
                    .await?;
                let upstream = sent.map_err(|e| {
                    // The test fails at its end even if the client swallows the 502.
                    let err = Error::Unreachable {
                        url: url.clone(),
                        reason: reqwest_reason(e),
                    };
                    scope.problem(err.to_string());
                    err
                })?;
                (upstream, url)
            }
        };
        let status = upstream.status().as_u16();
        cross_origin_redirect(scope, &upstream, &url);
        let headers = upstream.headers();
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let codings = match headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
        {
            Some(v) => Codings::parse(v).inspect_err(|e| scope.problem(e.to_string()))?,
            None => Codings::default(),
        };
        let source = if scope.mode.writes() {
            AnswerSource::Recorded
        } else {
            AnswerSource::Live
        };
        let mut passed = crate::headers::passed_response_headers(status, headers);
        let mut kept = crate::headers::kept_response_headers(status, headers, key.hash());
        keyless_location(scope, &mut passed, &mut kept);
        let mut issuer = Issuer::new(key.hash(), key.occurrence(), request_text);
        if scope.mode.writes() {
            let mut ids = scope.ids();
            if crate::mcp::absorb_session(&mut issuer, &mut ids, headers, &mut kept) {
                scope.ids_changed(&ids);
            }
        }
        let model = serde_json::from_slice::<serde_json::Value>(&req.body)
            .ok()
            .and_then(|b| b.get("model").and_then(|m| m.as_str()).map(str::to_owned));
        let request = RecordedRequest {
            method: ident.method().to_owned(),
            endpoint: ident.endpoint().to_owned(),
            model,
            body: ident.body().clone(),
        };
        let format = content_type
            .as_deref()
            .and_then(StreamFormat::from_content_type)
            .filter(|_| status < 400);
        let open = format
            .and_then(|_| crate::mcp::open_ended(&req.method, &req.headers))
            .map(|o| scope.open_streams().open(o.session.as_deref()));
        let answer = Answer {
            key,
            url,
            status,
            content_type,
            codings,
            passed,
            kept,
            request,
            test_id: ident.test_id().map(str::to_owned),
            issuer,
            source,
            limit: scope.max_body_bytes(),
            open,
        };
        match format {
            None => self.record_whole(scope, upstream, answer, &foreign).await,
            Some(format) => Engine::record_stream(scope, upstream, answer, format),
        }
    }

    /// The request as it goes upstream: the URL of the endpoint's upstream (the
    /// setup's model API, or the named upstream of `/up/NAME/...`), the client's
    /// forwarded headers, that upstream's headers and its key in its auth style (or,
    /// with no key configured, the client's own credentials), and the body as the
    /// client sent it. Returns the URL too, for errors: without the key, nor any
    /// credential the client put in the query (see [`shown_url`]). A key the upstream
    /// needs but the environment lacks is an error saying which variable to set.
    fn upstream_request(
        &self,
        scope: &Scope,
        req: &EngineRequest,
    ) -> Result<(reqwest::RequestBuilder, String)> {
        let target = &scope.target;
        let route = target
            .route(&req.endpoint)
            .inspect_err(|e| scope.problem(e.to_string()))?;
        let api_key = target.key_of(&route);
        if api_key.is_none() && scope.mode.calls_upstream() {
            if let Some(var) = route.api_key_env {
                let url = shown_url(target, &req.endpoint)?;
                let err = Error::Setup(crate::error::SetupProblem::MissingApiKey {
                    setup: target.setup.clone(),
                    upstream: route.upstream.map(str::to_owned),
                    var: var.to_owned(),
                    url,
                });
                scope.problem(err.to_string());
                return Err(err);
            }
        }
        let endpoint = match (&api_key, route.auth) {
            (Some((_, value)), crate::engine::Auth::Query(param)) => {
                with_query_param(&req.endpoint, param, value)
            }
            _ => req.endpoint.clone(),
        };
        let url = target.upstream_url(&endpoint)?;
        let mut builder = self.http().request(req.method.clone(), &url);
        for name in crate::headers::FORWARDED_HEADERS {
            for v in req.headers.get_all(*name) {
                builder = builder.header(*name, v);
            }
        }
        for (name, v) in &req.headers {
            if crate::mcp::forwards_request_header(name.as_str()) {
                builder = builder.header(name, v);
            }
        }
        if !req.body.is_empty() && !req.headers.contains_key(http::header::CONTENT_TYPE) {
            builder = builder.header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        for (name, value) in route.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        match (&api_key, route.auth) {
            (Some((_, k)), crate::engine::Auth::Bearer) => builder = builder.bearer_auth(k),
            (Some((_, k)), crate::engine::Auth::Header(h)) => {
                builder = builder.header(h.as_str(), k.as_str())
            }
            (Some(_), crate::engine::Auth::Query(_)) => {}
            (None, _) => {
                // No key configured: the client's own goes through (a secret: never stored).
                for name in crate::headers::CREDENTIAL_HEADERS {
                    for v in req.headers.get_all(*name) {
                        builder = builder.header(*name, v);
                    }
                }
            }
        }
        Ok((
            builder.body(req.body.clone()),
            shown_url(target, &req.endpoint)?,
        ))
    }

    /// A whole answer (not a stream, or an error): read up to the body limit, decoded,
    /// its new ids given placeholders and, in the record modes, recorded. An error
    /// answer to a request that sent back `foreign` ids (placeholders of replayed
    /// answers) is not recorded: the real API never issued them.
    async fn record_whole(
        &self,
        scope: &Arc<Scope>,
        upstream: reqwest::Response,
        answer: Answer,
        foreign: &[String],
    ) -> Result<EngineResponse> {
        let Answer {
            key,
            url,
            status,
            content_type,
            codings,
            passed,
            kept,
            request,
            test_id,
            mut issuer,
            source,
            limit,
            open: _,
        } = answer;
        let raw = read_capped(upstream, limit, &url)
            .await
            .inspect_err(|e| scope.problem(e.to_string()))?;
        let body = if codings.is_identity() {
            raw
        } else {
            Bytes::from(
                crate::compression::decode(&codings, &raw, limit)
                    .inspect_err(|e| scope.problem(e.to_string()))?,
            )
        };
        super::budget::charge_body(scope, &request, &body);
        if status >= 400 && !foreign.is_empty() {
            scope.problem(foreign_message(scope, foreign, status));
        } else if scope.mode.records() {
            let mut response = RecordedResponse::plain(
                status,
                content_type.as_deref().map(json_content_type),
                &body,
            );
            response.headers = kept;
            if let Some(json) = &response.body {
                let mut ids = scope.ids();
                issuer.absorb(&mut ids, json);
                scope.ids_changed(&ids);
            }
            let rec = Recording {
                test_id,
                request,
                response,
            };
            self.keep(scope, rec, &key)
                .map_err(|e| with_answer_limit(e, limit))
                .inspect_err(|e| scope.problem(e.to_string()))?;
        } else {
            scope.stats.live.fetch_add(1, Ordering::Relaxed);
        }
        Ok(EngineResponse {
            status,
            content_type,
            headers: passed,
            body: ResponseBody::Full(body),
            source,
        })
    }

    /// A stream: chunks pass on as they arrive while a background task parses and
    /// records them. The task drains the upstream even if the client goes away, and
    /// gives each event's new ids their placeholders before its bytes go on, so the
    /// client's next request already matches. Nothing is recorded from a stream the
    /// upstream cut short or that grew over the body limit.
    fn record_stream(
        scope: &Arc<Scope>,
        upstream: reqwest::Response,
        answer: Answer,
        format: StreamFormat,
    ) -> Result<EngineResponse> {
        let Answer {
            key,
            url,
            status,
            passed,
            kept,
            request,
            test_id,
            mut issuer,
            source,
            limit,
            codings,
            content_type: _,
            mut open,
        } = answer;
        let cap = tokio::time::Instant::now() + scope.vars().open_stream_secs();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes>>();
        let keep_timing = scope.vars().keep_timing();
        let guard = scope.in_flight.start();
        let scope = scope.clone();
        let mut decoder = if codings.is_identity() {
            None
        } else {
            Some(
                StreamDecoder::new(&codings, limit)
                    .inspect_err(|e| scope.problem(crate::error::chain(e)))?,
            )
        };
        background().spawn(task(async move {
            let _guard = guard;
            let fail = |err: Error| {
                // The client's stream ends in this error, which it may print.
                let err = scope.redact(err);
                scope.problem(err.to_string());
                let _ = tx.send(Err(err));
            };
            let mut parser = FrameParser::new(format);
            let mut frames = HeldFrames::default();
            // A recording that replay would refuse is known while the stream comes,
            // and its frames are not held (the store refuses any file over the limit;
            // this margin covers ids and secrets, replaced later, which change sizes).
            let max_file = scope.engine.store().max_file_bytes();
            let hold_up_to = max_file.saturating_add(max_file / 4);
            // The frames a token budget counts usage from: held only when a budget
            // applies (the held frames above are compact JSON, and none in live mode).
            let budgeted = super::budget::applies(&scope);
            let mut usage_frames = Vec::new();
            let mut last = Instant::now();
            let mut total = 0usize;
            // `chunk()`, not `bytes_stream()`: reqwest's `stream` feature (and with it
            // tokio's `fs`) would cost every user's clean build about 1.4 s of CPU.
            let mut upstream = upstream;
            let mut ended = false;
            while !ended {
                let next = match open.as_mut() {
                    None => upstream.chunk().await.transpose(),
                    // An open-ended stream is saved with what it has when the client
                    // leaves, its session ends, the test ends or the cap passes.
                    Some(stop) => tokio::select! {
                        biased;
                        next = upstream.chunk() => next.transpose(),
                        () = tx.closed() => break,
                        () = crate::mcp::stopped(stop) => break,
                        () = tokio::time::sleep_until(cap) => break,
                    },
                };
                let bytes = match next {
                    Some(Ok(bytes)) => match decoder.as_mut() {
                        Some(d) => match d.push(&bytes) {
                            Ok(out) => Bytes::from(out),
                            Err(e) => return fail(e),
                        },
                        None => bytes,
                    },
                    Some(Err(e)) => {
                        // Nothing is recorded from a stream the upstream cut short.
                        return fail(Error::Upstream {
                            url: url.clone(),
                            reason: reqwest_reason(e),
                        });
                    }
                    None => {
                        ended = true;
                        match decoder.take().map(StreamDecoder::finish) {
                            Some(Ok(rest)) => Bytes::from(rest),
                            Some(Err(e)) => return fail(e),
                            None => Bytes::new(),
                        }
                    }
                };
                total += bytes.len();
                if total > limit {
                    return fail(Error::Upstream {
                        url: url.clone(),
                        reason: format!(
                            "the streamed answer is over {limit} bytes (RECORDER_MAX_BODY_BYTES)"
                        ),
                    });
                }
                let mut new_frames = parser.push(&bytes);
                if ended {
                    match std::mem::replace(&mut parser, FrameParser::new(format)).finish() {
                        Ok(rest) => new_frames.extend(rest),
                        Err(e) => return fail(e),
                    }
                }
                if scope.mode.records() && !new_frames.is_empty() {
                    let mut ids = scope.ids();
                    for frame in &mut new_frames {
                        // An event id a resumable server issues (MCP) is an id too; the
                        // client gets the real one (the bytes), the recording its placeholder.
                        if let Some(id) = frame.id.as_mut().filter(|i| is_id_like(i)) {
                            if let Some(placeholder) = issuer.absorb_id(&mut ids, id) {
                                *id = placeholder;
                            }
                        }
                        if let Some(data) = frame.data.as_ref().filter(|d| !d.is_string()) {
                            issuer.absorb(&mut ids, data);
                        }
                    }
                    scope.ids_changed(&ids);
                }
                for mut frame in new_frames {
                    // Keep-alives pass to the client (the bytes) but are not stored.
                    if frame.is_keep_alive() {
                        continue;
                    }
                    if !scope.mode.records() {
                        if budgeted {
                            usage_frames.push(frame);
                        }
                        continue;
                    }
                    if keep_timing {
                        frame.delay_ms = Some(last.elapsed().as_millis() as u64);
                        last = Instant::now();
                    }
                    frames.push(&frame);
                    if budgeted {
                        usage_frames.push(frame);
                    }
                }
                if scope.mode.writes() && frames.file_bytes() > hold_up_to && !frames.dropped() {
                    frames.drop_frames();
                }
                if !bytes.is_empty() {
                    let _ = tx.send(Ok(bytes));
                }
            }
            // Counted before the client sees the end: its next call is checked
            // against it.
            super::budget::charge_frames(&scope, &request, &usage_frames);
            drop(tx);
            if !scope.mode.records() {
                scope.stats.live.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if frames.dropped() {
                // The client got its stream; the test fails saying why nothing was written.
                let err = Error::TooLargeToReplay {
                    path: scope.dir().join(key.file_name()),
                    size: frames.file_bytes(),
                    limit: max_file,
                    answer_limit: Some(limit),
                };
                scope.problem(err.to_string());
                return;
            }
            let mut response = RecordedResponse::streamed(status, format, frames.into_frames());
            response.headers = kept;
            let rec = Recording {
                test_id,
                request,
                response,
            };
            if let Err(e) = scope.engine.keep(&scope, rec, &key) {
                scope.problem(with_answer_limit(e, limit).to_string());
            }
        }));
        let stream = BodyStream::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        Ok(EngineResponse {
            status,
            content_type: Some(format.content_type().to_owned()),
            headers: passed,
            body: ResponseBody::Stream(format, stream),
            source,
        })
    }

    /// What becomes of an answer made into a recording: written in the record modes
    /// ([`Engine::save`]), compared with the recording on disk in verify mode.
    fn keep(&self, scope: &Scope, rec: Recording, key: &RecordingKey) -> Result<()> {
        if scope.mode.compares() {
            self.verify(scope, rec, key);
            Ok(())
        } else {
            self.save(scope, rec, key)
        }
    }

    /// A recording as it is stored: ids replaced by their placeholders, volatile
    /// fields normalized, secrets scrubbed.
    pub(crate) fn as_stored(&self, scope: &Scope, mut rec: Recording, hash: &str) -> Recording {
        if scope.has_ids() {
            let ids = scope.ids();
            rec.response.for_each_json_mut(|v| ids.apply(v));
            if let Some(text) = &mut rec.response.body_text {
                *text = ids.substitute(text).into_owned();
            }
        }
        rec.response.for_each_json_mut(|v| normalize_value(v, hash));
        crate::secrets::scrub(rec, &scope.secrets())
    }

    /// Writes a recording as stored ([`Engine::as_stored`]), atomically; then the usage
    /// log and, for a test that sends ids back, its id map file.
    pub(crate) fn save(&self, scope: &Scope, rec: Recording, key: &RecordingKey) -> Result<()> {
        let hash = key.hash();
        let rec = self.as_stored(scope, rec, hash);
        let sends_ids = crate::idmap::is_placeholder(&rec.request.endpoint)
            || crate::idmap::is_placeholder(&rec.request.body.to_string());
        let status = rec.response.status;
        let (path, saved) = {
            let _one_writer = scope.ids_file.lock().unwrap();
            // What would be written is compared with what is on disk: the same
            // answer, floats within the setup's tolerance, keeps the file.
            let (path, saved) = self.store().save(&rec, key, &scope.target.tolerance)?;
            if rec.test_id.is_some() && (sends_ids || scope.dir().join(IDS_FILE).exists()) {
                self.write_ids_file(scope)?;
            }
            (path, saved)
        };
        scope.stats.recorded.fetch_add(1, Ordering::Relaxed);
        scope.note_recorded(key);
        scope.count_save(&path, &saved, status);
        // The file is kept whatever happens to the usage log; a failure fails the test.
        if let Err(e) = self.usage.recorded(&scope.test_id, hash, &saved) {
            scope.problem(format!(
                "{e} (the recording {} was written; only the record of use is behind)",
                path.display()
            ));
        }
        // Replay goes on with what is on disk (record-if-missing; `record` replays
        // nothing, so it keeps no copy).
        let rec = match saved {
            Saved::Equivalent { kept, .. } => *kept,
            _ => rec,
        };
        if rec.test_id.is_none() {
            self.forget_model_list(&rec.request.endpoint);
        } else if let Some(Ok(recs)) = scope.mode.reads().then(|| scope.recordings()) {
            recs.lock()
                .unwrap()
                .insert(key.clone(), Arc::new(Replay::from_recording(rec, path)));
        }
        Ok(())
    }

    /// Rewrites the test's `_ids.json` from its recordings (see [`IdsFile`]), or
    /// removes it when no request of the test sends an id back.
    pub(crate) fn refresh_ids_file(&self, scope: &Scope) -> Result<()> {
        let _one_writer = scope.ids_file.lock().unwrap();
        self.write_ids_file(scope)
    }

    fn write_ids_file(&self, scope: &Scope) -> Result<()> {
        self.store().refresh_ids_file(&scope.dir())
    }

    fn forget_model_list(&self, endpoint: &str) {
        self.model_lists
            .lock()
            .unwrap()
            .remove(crate::store::model_list_key(endpoint));
    }
}

/// The message of an error answer to a request that sent back ids of replayed
/// recordings.
fn foreign_message(scope: &Scope, foreign: &[String], status: u16) -> String {
    format!(
        "the API answered {status} to a request of {} that sends back {}, an id that a replayed recording gave the client: the real API never issued it, so the answer was not recorded. Record the whole test again: {}",
        scope.who(),
        foreign.join(", "),
        scope.rerun_in(crate::Mode::Record)
    )
}

/// The upstream URL of an endpoint as errors and problems show it: without its
/// credential parameters (`?key=`, the setup's own query parameter), so that neither
/// the setup's key, which goes into the URL actually requested, nor the client's own
/// ever reaches a message.
fn shown_url(target: &super::Target, endpoint: &str) -> Result<String> {
    let extra: Vec<&str> = target.auth_query_for(endpoint).into_iter().collect();
    target.upstream_url(&crate::headers::strip_credentials(endpoint, &extra).0)
}

/// Why a request to the upstream failed: reqwest's error and its causes, without the
/// URL reqwest puts in its text (the URL requested, which holds a query key).
fn reqwest_reason(e: reqwest::Error) -> String {
    crate::error::chain(&e.without_url())
}

/// A 3xx whose `Location` is on another origin than the upstream's: the client
/// (see `same_origin_redirects`) did not follow it, so that no credential goes there,
/// and the 3xx is the answer, recorded with its `Location`. The test fails saying so,
/// since its request was not answered.
fn cross_origin_redirect(scope: &Scope, upstream: &reqwest::Response, url: &str) {
    if !upstream.status().is_redirection() {
        return;
    }
    let Some(location) = upstream
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| upstream.url().join(l).ok())
    else {
        return;
    };
    if location.origin() == upstream.url().origin() {
        return;
    }
    // Where it points, without a query that could carry a credential.
    let mut shown = location;
    shown.set_query(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    scope.problem(format!(
        "the upstream {url} answered {} redirecting to another origin, {shown}: the recorder does not follow redirects to another host, port or scheme, so that the setup's key is never sent there. The {} and its Location were the answer{}. If the API moved, set the setup's base_url (or its route) in recorder.toml to the new address and record again",
        upstream.status().as_u16(),
        upstream.status().as_u16(),
        if scope.mode.records() { ", and were recorded" } else { "" },
    ));
}

/// A redirect's `Location` as the client gets it and the recording keeps it: without
/// credential parameters, and with the test's secrets scrubbed. An upstream that
/// redirects keeps the query, `?key=` and all: the client must not be handed the
/// setup's key (nor follow it elsewhere with it).
fn keyless_location(
    scope: &Scope,
    passed: &mut [(http::HeaderName, HeaderValue)],
    kept: &mut BTreeMap<String, String>,
) {
    let extra: Vec<&str> = scope.target.auth_query().into_iter().collect();
    let secrets = scope.secrets();
    let clean = |v: &str| {
        let stripped = crate::headers::strip_credentials(v, &extra).0;
        crate::secrets::scrub_str(&stripped, &secrets).into_owned()
    };
    for (name, value) in passed.iter_mut() {
        if *name == http::header::LOCATION {
            if let Some(v) = value.to_str().ok().map(clean) {
                *value = HeaderValue::from_str(&v).unwrap_or_else(|_| value.clone());
            }
        }
    }
    if let Some(v) = kept.get_mut(http::header::LOCATION.as_str()) {
        *v = clean(v);
    }
}

/// A recording refused as too large to replay, saying what the test's answer limit
/// was too (the store does not know it).
fn with_answer_limit(e: Error, answer_limit: usize) -> Error {
    match e {
        Error::TooLargeToReplay {
            path, size, limit, ..
        } => Error::TooLargeToReplay {
            path,
            size,
            limit,
            answer_limit: Some(answer_limit),
        },
        e => e,
    }
}

/// The endpoint with `param` set to `value` in its query (replacing the client's).
fn with_query_param(endpoint: &str, param: &str, value: &str) -> String {
    let (path, query) = endpoint.split_once('?').unwrap_or((endpoint, ""));
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(param))
        .collect();
    let encoded: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let pair = format!("{param}={encoded}");
    pairs.push(&pair);
    format!("{path}?{}", pairs.join("&"))
}

/// Reads an upstream body whole, up to `limit` bytes: more is an error, never a
/// partial recording.
async fn read_capped(mut upstream: reqwest::Response, limit: usize, url: &str) -> Result<Bytes> {
    let url = url.to_owned();
    background()
        .spawn(task(async move {
            let mut out = Vec::new();
            while let Some(chunk) = upstream.chunk().await.map_err(|e| Error::Upstream {
                url: url.clone(),
                reason: reqwest_reason(e),
            })? {
                if out.len() + chunk.len() > limit {
                    return Err(Error::Upstream {
                        url,
                        reason: format!(
                            "the answer is over {limit} bytes (RECORDER_MAX_BODY_BYTES)"
                        ),
                    });
                }
                out.extend_from_slice(&chunk);
            }
            Ok(Bytes::from(out))
        }))
        .await?
}

fn json_content_type(ct: &str) -> &str {
    let base = ct.split(';').next().unwrap_or(ct).trim();
    if base.contains("json") {
        base
    } else {
        ct
    }
}
