//! Shared harness: a real server on 127.0.0.1 over a detached engine handle that the test
//! plays (it publishes dev events and answers commands itself).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arkor_tui::core::engine::{DetachedEngine, EngineHandle, RunHandle};
use arkor_tui::core::events::{BuiltArtifact, DevEvent, DispatchOutcome, ExitStatus};
use arkor_tui::core::project::Project;
use arkor_tui::core::run_output;
use arkor_tui::server::{self, RunningServer, ServerConfig, TokenFile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous upper bound for anything a test waits on; only catches hangs.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Harness {
    pub server: Option<RunningServer>,
    pub engine: DetachedEngine,
    pub project: tempfile::TempDir,
    pub home: tempfile::TempDir,
    pub port: u16,
    pub token: String,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_, _| {}).await
    }

    /// Start with a config tweak; `tweak` gets the project and home dirs.
    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig, &Path)) -> Harness {
        let project = tempfile::tempdir().expect("temp project");
        let home = tempfile::tempdir().expect("temp home");
        let (handle, engine) =
            EngineHandle::detached(Project::at(project.path()).expect("project"));
        let mut cfg = ServerConfig {
            port: Some(0),
            token_file: TokenFile::At(home.path().join(".arkor").join("studio-token")),
            assets_dir: None,
            cloud_routes: None,
            ..Default::default()
        };
        tweak(&mut cfg, project.path());
        let running = server::start(handle, cfg).await.expect("server starts");
        Harness {
            port: running.port(),
            token: running.token().to_owned(),
            server: Some(running),
            engine,
            project,
            home,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn publish(&self, event: DevEvent) {
        self.engine.shared.dev_events.publish(Arc::new(event));
    }

    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client")
    }

    /// GET with the token header.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        Self::client()
            .get(self.url(path))
            .header("x-arkor-studio-token", &self.token)
            .send()
            .await
            .expect("request")
    }

    /// Send raw request bytes on a fresh connection and read until the server closes it.
    pub async fn raw(&self, request: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        stream.write_all(request).await.expect("write");
        let mut out = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
            .await
            .expect("response within timeout")
            .expect("read");
        out
    }

    /// A raw GET with `Connection: close` and the given extra header lines.
    pub async fn raw_get(&self, path: &str, host: &str, extra: &str) -> RawResponse {
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
        RawResponse::parse(&self.raw(req.as_bytes()).await)
    }
}

/// A parsed HTTP/1.1 response (chunked bodies de-chunked).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn parse(bytes: &[u8]) -> RawResponse {
        let head_end = find(bytes, b"\r\n\r\n").expect("complete response head");
        let head = std::str::from_utf8(&bytes[..head_end]).expect("ascii head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line");
                (k.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let raw_body = &bytes[head_end + 4..];
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v == "chunked");
        let body = if chunked {
            dechunk(raw_body).0
        } else {
            raw_body.to_vec()
        };
        RawResponse {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// De-chunk as much of a chunked body as is complete; returns (body, finished).
pub fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(raw, b"\r\n") else {
            return (out, false);
        };
        let size_text = std::str::from_utf8(&raw[..line_end]).expect("chunk size");
        let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return (out, true);
        }
        let start = line_end + 2;
        if raw.len() < start + size + 2 {
            return (out, false);
        }
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}

/// A successful build event with the given identity.
pub fn built(
    first: bool,
    content_hash: &str,
    config_hash: Option<&str>,
    dispatch: Option<DispatchOutcome>,
) -> DevEvent {
    DevEvent::Built {
        first,
        artifact: BuiltArtifact {
            out_file: "/p/.arkor/build/index.mjs".to_owned(),
            hash: format!("1700000000000.5-1700000000000.5-{}", content_hash.len()),
            content_hash: Some(content_hash.to_owned()),
            config_hash: config_hash.map(str::to_owned),
            trainer_name: Some("qa-bot".to_owned()),
            config: None,
            build_duration: Duration::from_millis(3),
            inspect_duration: Duration::from_millis(1),
        },
        dispatch,
    }
}

/// An SSE subscriber over a raw socket: reads the response head, then de-chunked frames.
pub struct SseClient {
    pub stream: TcpStream,
    pub head: Option<RawResponse>,
    raw: Vec<u8>,
    body_start: usize,
}

impl SseClient {
    pub async fn connect(port: u16, token: &str) -> SseClient {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let req = format!(
            "GET /api/dev/events?studioToken={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.expect("write");
        SseClient {
            stream,
            head: None,
            raw: Vec::new(),
            body_start: 0,
        }
    }

    /// Hand back bytes the test read from `stream` itself.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
    }

    /// The de-chunked body received so far.
    pub fn body(&self) -> Vec<u8> {
        if self.head.is_none() {
            return Vec::new();
        }
        dechunk(&self.raw[self.body_start..]).0
    }

    /// Read until the body contains `needle` (or EOF); returns false on EOF. Each frame is
    /// one chunk, so a needle inside a frame is contiguous in the raw bytes; only bytes not
    /// yet scanned are searched.
    pub async fn read_until(&mut self, needle: &str) -> bool {
        let needle = needle.as_bytes();
        let mut scanned = self.body_start;
        loop {
            if self.head.is_none()
                && let Some(end) = find(&self.raw, b"\r\n\r\n")
            {
                self.head = Some(RawResponse::parse(&self.raw[..end + 4]));
                self.body_start = end + 4;
                scanned = self.body_start;
            }
            if self.head.is_some() {
                let from = scanned.max(self.body_start);
                if find(&self.raw[from..], needle).is_some() {
                    return true;
                }
                scanned = self
                    .raw
                    .len()
                    .saturating_sub(needle.len())
                    .max(self.body_start);
            }
            let mut buf = [0u8; 16384];
            let n = self.stream.read(&mut buf).await.expect("read");
            if n == 0 {
                return false;
            }
            self.raw.extend_from_slice(&buf[..n]);
        }
    }

    /// Read until the server ends the response (terminal chunk or EOF).
    pub async fn read_to_end(&mut self) {
        loop {
            if self.head.is_some() && dechunk(&self.raw[self.body_start..]).1 {
                return;
            }
            let mut buf = [0u8; 65536];
            let n = self.stream.read(&mut buf).await.expect("read");
            if n == 0 {
                return;
            }
            self.raw.extend_from_slice(&buf[..n]);
            if self.head.is_none()
                && let Some(end) = find(&self.raw, b"\r\n\r\n")
            {
                self.head = Some(RawResponse::parse(&self.raw[..end + 4]));
                self.body_start = end + 4;
            }
        }
    }
}

/// Spawn `command` with piped output and forward its stdout/stderr bytes and its exit as a
/// run's output, the way the engine hands an HTTP run to the server. The child is killed if
/// the forwarding task is dropped (test end).
pub fn spawn_piped(mut command: tokio::process::Command) -> RunHandle {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the run");
    let pid = child.id().expect("pid");
    let (tx, rx) = run_output::channel(run_output::HTTP_OUTPUT_BUDGET);
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    tokio::spawn(async move {
        let (mut out_buf, mut err_buf) = ([0u8; 8192], [0u8; 8192]);
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            let chunk = tokio::select! {
                n = stdout.read(&mut out_buf), if out_open => match n {
                    Ok(n) if n > 0 => Some(&out_buf[..n]),
                    _ => { out_open = false; None }
                },
                n = stderr.read(&mut err_buf), if err_open => match n {
                    Ok(n) if n > 0 => Some(&err_buf[..n]),
                    _ => { err_open = false; None }
                },
            };
            if let Some(chunk) = chunk {
                tx.push(chunk);
            }
        }
        let status = child.wait().await.expect("wait");
        let status = match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Code(code),
            (None, Some(sig)) => ExitStatus::Signal(sig),
            (None, None) => ExitStatus::Code(-1),
        };
        tx.finish(status);
    });
    RunHandle {
        pid,
        output: Some(rx),
    }
}
