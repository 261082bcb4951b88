//! A fake Arkor Cloud API on 127.0.0.1 that records every request. It serves what the
//! reference's browser suite's fake serves, plus auth, projects, endpoints and
//! cancel; a test can replace the answer of any (method, path). A job given a
//! [`JobTimeline`] streams that timeline as its event stream, as the cloud does: history
//! replayed (after `Last-Event-ID`), then live frames, `end` once the job is over; the
//! test can cut live connections, send malformed frames, or take the whole cloud offline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// Path plus `?query` as sent.
    pub fn uri(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Clone, Debug)]
pub enum CannedBody {
    Full(Vec<u8>),
    /// Send these bytes, then keep the stream open until the client goes away.
    Open(Vec<u8>),
}

/// A prepared answer.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: CannedBody,
    /// Answer only after this long (to widen race windows on purpose).
    pub delay: Duration,
}

impl Canned {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: CannedBody::Full(body.to_string().into_bytes()),
            delay: Duration::ZERO,
        }
    }

    /// A body with no content type at all.
    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: CannedBody::Full(body.as_bytes().to_vec()),
            delay: Duration::ZERO,
        }
    }

    pub fn sse(body: &str) -> Self {
        Self::raw(200, body).header("content-type", "text/event-stream")
    }

    pub fn empty(status: u16) -> Self {
        Self::raw(status, "")
    }

    pub fn open_stream(first: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: CannedBody::Open(first.as_bytes().to_vec()),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn deprecated(self, warning: &str, sunset: &str) -> Self {
        self.header("Deprecation", "true")
            .header("Warning", warning)
            .header("Sunset", sunset)
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct Inner {
    requests: Mutex<Vec<Recorded>>,
    overrides: Mutex<HashMap<(String, String), Canned>>,
    anon_org: Mutex<String>,
    mints: AtomicUsize,
    open_streams_closed: AtomicUsize,
    stream_closed: Notify,
    timelines: Mutex<HashMap<String, JobTimeline>>,
}

pub struct FakeCloud {
    pub base: String,
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: Option<JoinHandle<()>>,
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

pub fn deployment(id: &str, slug: &str) -> Value {
    json!({
        "id": id, "slug": slug, "orgId": "o", "projectId": "p",
        "target": {"kind": "base_model", "baseModel": "m"},
        "authMode": "none", "urlFormat": "openai_compat", "enabled": true,
        "customDomain": null, "createdAt": "2026-05-05T00:00:00Z",
        "updatedAt": "2026-05-05T00:00:00Z", "futureField": 1
    })
}

fn key_row(id: &str) -> Value {
    json!({"id": id, "label": "ci", "prefix": "ark_live_ab", "enabled": true,
        "createdAt": "2026-05-05T00:00:00Z", "lastUsedAt": null})
}

impl FakeCloud {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            requests: Mutex::new(Vec::new()),
            overrides: Mutex::new(HashMap::new()),
            anon_org: Mutex::new("anon-org".into()),
            mints: AtomicUsize::new(0),
            open_streams_closed: AtomicUsize::new(0),
            stream_closed: Notify::new(),
            timelines: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake cloud");
        let addr = listener.local_addr().expect("local addr");
        let server = serve(listener, inner.clone());
        Self {
            base: format!("http://{addr}"),
            addr,
            inner,
            server: Some(server),
        }
    }

    /// The cloud goes away: it stops listening (new connections are refused) and every
    /// live job event stream breaks.
    pub async fn go_offline(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        for timeline in self.inner.timelines.lock().unwrap().values() {
            timeline.cut_connections();
        }
    }

    /// The cloud is back, at the same address.
    pub async fn go_online(&mut self) {
        if self.server.is_some() {
            return;
        }
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind the fake cloud again");
        self.server = Some(serve(listener, self.inner.clone()));
    }

    /// From now on `GET /v1/jobs/{job_id}/events/stream` streams this job's timeline.
    pub fn job_timeline(&self, job_id: &str) -> JobTimeline {
        let timeline = JobTimeline::new(job_id);
        self.inner
            .timelines
            .lock()
            .unwrap()
            .insert(job_id.to_owned(), timeline.clone());
        timeline
    }

    /// How many times a job's event stream was requested.
    pub fn stream_requests(&self, job_id: &str) -> Vec<Recorded> {
        self.requests_to("GET", &format!("/v1/jobs/{job_id}/events/stream"))
    }

    /// Answer `method path` (exact path, no query) with `canned` from now on.
    pub fn on(&self, method: &str, path: &str, canned: Canned) {
        self.inner
            .overrides
            .lock()
            .unwrap()
            .insert((method.to_owned(), path.to_owned()), canned);
    }

    /// Back to the default answer of `method path`.
    pub fn off(&self, method: &str, path: &str) {
        self.inner
            .overrides
            .lock()
            .unwrap()
            .remove(&(method.to_owned(), path.to_owned()));
    }

    /// The org the anonymous sign-in hands out.
    pub fn set_anon_org(&self, org: &str) {
        *self.inner.anon_org.lock().unwrap() = org.to_owned();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(path_prefix))
            .collect()
    }

    pub fn mints(&self) -> usize {
        self.inner.mints.load(Ordering::SeqCst)
    }

    /// Wait until `n` open streams were closed by their client (generous timeout).
    pub async fn wait_streams_closed(&self, n: usize) -> bool {
        let wait = async {
            loop {
                let notified = self.inner.stream_closed.notified();
                if self.inner.open_streams_closed.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_ok()
    }
}

fn serve(listener: tokio::net::TcpListener, inner: Arc<Inner>) -> JoinHandle<()> {
    let app = Router::new().fallback(handle).with_state(inner);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

struct ClosedGuard(Arc<Inner>);

impl Drop for ClosedGuard {
    fn drop(&mut self) {
        self.0.open_streams_closed.fetch_add(1, Ordering::SeqCst);
        self.0.stream_closed.notify_waiters();
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body,
    };
    inner.requests.lock().unwrap().push(recorded.clone());
    let key = (recorded.method.clone(), recorded.path.clone());
    let canned = inner.overrides.lock().unwrap().get(&key).cloned();
    if canned.is_none()
        && let Some(timeline) = timeline_for(&inner, &recorded)
    {
        let body = timeline.stream(recorded.header("last-event-id"), ClosedGuard(inner.clone()));
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(body)
            .unwrap();
    }
    let canned = canned.unwrap_or_else(|| default_reply(&inner, &recorded));
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let mut builder = Response::builder().status(StatusCode::from_u16(canned.status).unwrap());
    for (name, value) in &canned.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = match canned.body {
        CannedBody::Full(bytes) => Body::from(bytes),
        CannedBody::Open(first) => {
            let guard = ClosedGuard(inner.clone());
            let stream =
                futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) })
                    .chain(futures::stream::pending())
                    .map(move |chunk| {
                        let _keep = &guard;
                        chunk
                    });
            Body::from_stream(stream)
        }
    };
    builder.body(body).unwrap()
}

fn default_reply(inner: &Inner, r: &Recorded) -> Canned {
    let segments: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    match (r.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "me"]) => Canned::json(
            200,
            json!({"user": {"id": "user_e2e", "email": null},
                "orgs": [{"id": "org_e2e", "slug": "studio-e2e-org", "name": "Studio E2E"}]}),
        ),
        ("GET", ["v1", "jobs"]) => Canned::json(
            200,
            json!({"jobs": [{"id": "job-e2e-1", "name": "studio-e2e-trainer", "status": "running",
                "createdAt": "2026-05-01T00:00:00.000Z", "startedAt": "2026-05-01T00:00:01.000Z",
                "completedAt": null, "error": null, "config": {}}]}),
        ),
        ("GET", ["v1", "jobs", _, "events", "stream"]) => {
            Canned::open_stream("event: status\ndata: {\"status\":\"running\"}\n\n")
        }
        ("POST", ["v1", "jobs", _, "cancel"]) => Canned::json(200, json!({})),
        ("POST", ["v1", "inference", "chat"]) => Canned::sse(concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\" from\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\" e2e\"}}]}\n\n",
            "data: [DONE]\n\n"
        )),
        ("POST", ["v1", "auth", "anonymous"]) => {
            let n = inner.mints.fetch_add(1, Ordering::SeqCst) + 1;
            let org = inner.anon_org.lock().unwrap().clone();
            // Slow enough that concurrent first requests overlap with the mint.
            Canned::json(
                200,
                json!({"token": format!("minted-token-{n}"), "anonymousId": format!("minted-id-{n}"),
                    "kind": "cli", "personalOrg": {"slug": org, "id": "org-id", "name": "Anon"}}),
            )
            .delayed(Duration::from_millis(150))
        }
        ("GET", ["v1", "auth", "cli", "config"]) => Canned::json(
            200,
            json!({"auth0Domain": "", "clientId": "", "audience": "", "callbackPorts": []}),
        ),
        ("POST", ["v1", "projects"]) => Canned::json(
            201,
            json!({"project": {"id": "p-bootstrap", "slug": "auto-slug", "name": "auto", "orgId": "org-id"}}),
        ),
        ("GET", ["v1", "projects"]) => {
            Canned::json(200, json!({"org": {"slug": "anon-org"}, "projects": []}))
        }
        ("GET", ["v1", "endpoints"]) => Canned::json(
            200,
            json!({"deployments": [deployment("d1", "x")], "cursor": null}),
        ),
        ("POST", ["v1", "endpoints"]) => {
            Canned::json(201, json!({"deployment": deployment("d-new", "my-model")}))
        }
        ("GET" | "PATCH", ["v1", "endpoints", id]) => {
            Canned::json(200, json!({"deployment": deployment(id, "x")}))
        }
        ("DELETE", ["v1", "endpoints", _]) => Canned::empty(204),
        ("GET", ["v1", "endpoints", _, "keys"]) => {
            let mut leaked = key_row("k1");
            leaked["plaintext"] = json!("must-not-leak");
            Canned::json(200, json!({"keys": [leaked, key_row("k2")]}))
        }
        ("POST", ["v1", "endpoints", _, "keys"]) => Canned::json(
            201,
            json!({"key": {"id": "k-new", "label": "ci", "plaintext": "ark_live_secret",
                "prefix": "ark_live_se", "createdAt": "2026-05-05T00:00:00Z"}}),
        ),
        ("DELETE", ["v1", "endpoints", _, "keys", _]) => Canned::empty(204),
        _ => Canned::json(
            404,
            json!({"error": format!("no mock for {} {}", r.method, r.path)}),
        ),
    }
}

fn timeline_for(inner: &Inner, r: &Recorded) -> Option<JobTimeline> {
    let segments: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    match (r.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "jobs", id, "events", "stream"]) => {
            inner.timelines.lock().unwrap().get(*id).cloned()
        }
        _ => None,
    }
}

/// One job's event history on the fake cloud. Every subscriber sees the same frames.
#[derive(Clone)]
pub struct JobTimeline {
    inner: Arc<TimelineInner>,
}

struct TimelineInner {
    job_id: String,
    state: Mutex<TimelineState>,
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct TimelineState {
    /// `(id, rendered frame)`; pings have no id.
    frames: Vec<(Option<String>, String)>,
    next_id: u64,
    ended: bool,
    /// Bumped to break every live connection.
    cuts: u64,
    /// Replay from the start whatever `Last-Event-ID` says (a careless proxy).
    ignore_last_event_id: bool,
}

/// The fake's clock: frame n happened n × 100 ms after this.
const EPOCH_MS: i64 = 1_777_593_600_000; // 2026-05-01T00:00:00Z

fn iso(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    // 2026-05-01 is day 20574 since 1970; tests never run the fake past May.
    let day_of_may = days - 20_574 + 1;
    format!(
        "2026-05-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        day_of_may,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

impl JobTimeline {
    fn new(job_id: &str) -> Self {
        Self {
            inner: Arc::new(TimelineInner {
                job_id: job_id.to_owned(),
                state: Mutex::new(TimelineState::default()),
                changed: watch::Sender::new(0),
            }),
        }
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|v| *v += 1);
    }

    /// Append a frame with the next id; `data` is written as given.
    pub fn push_raw(&self, event: &str, data: &str) -> String {
        let mut state = self.inner.state.lock().unwrap();
        state.next_id += 1;
        let id = format!("{}-{}", self.inner.job_id, state.next_id);
        let frame = format!("id: {id}\nevent: {event}\ndata: {data}\n\n");
        state.frames.push((Some(id.clone()), frame));
        drop(state);
        self.bump();
        id
    }

    /// Append an event: `type`, `jobId` and `timestamp` are added to `fields`.
    pub fn push(&self, kind: &str, mut fields: Value) -> String {
        let n = self.inner.state.lock().unwrap().next_id as i64 + 1;
        fields["type"] = json!(kind);
        fields["jobId"] = json!(self.inner.job_id);
        fields["timestamp"] = json!(iso(EPOCH_MS + n * 100));
        self.push_raw(kind, &fields.to_string())
    }

    pub fn started(&self) -> String {
        self.push("training.started", json!({}))
    }

    pub fn log(&self, step: u64, loss: f64) -> String {
        self.push(
            "training.log",
            json!({"step": step, "loss": loss, "evalLoss": null, "learningRate": 2e-4,
                "epoch": step as f64 / 200.0}),
        )
    }

    pub fn eval(&self, step: u64, eval_loss: f64) -> String {
        self.push(
            "training.log",
            json!({"step": step, "loss": null, "evalLoss": eval_loss}),
        )
    }

    pub fn checkpoint(&self, step: u64) -> String {
        self.push("checkpoint.saved", json!({"step": step, "artifacts": []}))
    }

    pub fn completed(&self) -> String {
        self.push("training.completed", json!({"artifacts": []}))
    }

    pub fn failed(&self, error: &str, step: u64) -> String {
        self.push("training.failed", json!({"error": error, "step": step}))
    }

    /// A frame whose data is not an event (counted and skipped by a good client).
    pub fn malformed(&self, data: &str) -> String {
        self.push_raw("training.log", data)
    }

    pub fn ping(&self) {
        let mut state = self.inner.state.lock().unwrap();
        state
            .frames
            .push((None, "event: ping\ndata: {}\n\n".to_owned()));
        drop(state);
        self.bump();
    }

    /// The job is over: streams send `end` after the history and close.
    pub fn end(&self) {
        self.inner.state.lock().unwrap().ended = true;
        self.bump();
    }

    /// Break every live connection mid-stream.
    pub fn cut_connections(&self) {
        self.inner.state.lock().unwrap().cuts += 1;
        self.bump();
    }

    pub fn ignore_last_event_id(&self, ignore: bool) {
        self.inner.state.lock().unwrap().ignore_last_event_id = ignore;
    }

    /// The body of one connection: the history after `last_event_id` (or all of it),
    /// then live frames; `end` and a clean close once the job is over; an abrupt break
    /// when the connections are cut.
    fn stream(&self, last_event_id: Option<&str>, guard: ClosedGuard) -> Body {
        let state = self.inner.state.lock().unwrap();
        let start = match last_event_id {
            Some(last) if !state.ignore_last_event_id => state
                .frames
                .iter()
                .position(|(id, _)| id.as_deref() == Some(last))
                .map_or(0, |i| i + 1),
            _ => 0,
        };
        let cuts = state.cuts;
        drop(state);
        let cursor = Cursor {
            timeline: self.clone(),
            next: start,
            cuts,
            changed: self.inner.changed.subscribe(),
            done: false,
            _guard: guard,
        };
        Body::from_stream(futures::stream::unfold(cursor, Cursor::next_chunk))
    }
}

struct Cursor {
    timeline: JobTimeline,
    next: usize,
    cuts: u64,
    changed: watch::Receiver<u64>,
    done: bool,
    _guard: ClosedGuard,
}

impl Cursor {
    async fn next_chunk(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        loop {
            if self.done {
                return None;
            }
            self.changed.borrow_and_update();
            {
                let state = self.timeline.inner.state.lock().unwrap();
                if state.cuts != self.cuts {
                    self.done = true;
                    let cut = std::io::Error::other("connection cut by the test");
                    drop(state);
                    return Some((Err(cut), self));
                }
                if self.next < state.frames.len() {
                    let chunk: String = state.frames[self.next..]
                        .iter()
                        .map(|(_, frame)| frame.as_str())
                        .collect();
                    self.next = state.frames.len();
                    drop(state);
                    return Some((Ok(Bytes::from(chunk)), self));
                }
                if state.ended {
                    self.done = true;
                    drop(state);
                    return Some((Ok(Bytes::from_static(b"event: end\ndata: {}\n\n")), self));
                }
            }
            if self.changed.changed().await.is_err() {
                return None;
            }
        }
    }
}
