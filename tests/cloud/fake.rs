//! A fake Arkor Cloud API on 127.0.0.1 that records every request. It serves what the
//! reference e2e suite's fake serves (SPEC §12.13) plus auth, projects, endpoints and
//! cancel; a test can replace the answer of any (method, path).

use std::collections::HashMap;
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
use tokio::sync::Notify;
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
}

pub struct FakeCloud {
    pub base: String,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        self.server.abort();
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
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake cloud");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            inner,
            server,
        }
    }

    /// Answer `method path` (exact path, no query) with `canned` from now on.
    pub fn on(&self, method: &str, path: &str, canned: Canned) {
        self.inner
            .overrides
            .lock()
            .unwrap()
            .insert((method.to_owned(), path.to_owned()), canned);
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
