//! `POST /api/train` (docs/protocol.md §7): start a run in the engine's registry and stream its raw
//! output as `text/plain`, then the trailer `\n---\nexit=<code|null>\n`.
//!
//! The pid goes in the `x-arkor-train-pid` header so the Studio can find its own run in the
//! dispatch targets of `/api/dev/events`.
//!
//! A client that reads too slowly never holds up the run: the output waits in a queue of
//! [`HTTP_OUTPUT_BUDGET`](crate::core::run_output::HTTP_OUTPUT_BUDGET) bytes, what falls out
//! of it is replaced by one line, `arkor: N bytes of output dropped: the client fell behind`,
//! and the body goes on to the trailer. Ending the body instead would cost the Studio the
//! exit code its auto-restart decision reads, and its Stop button, which aborts this very
//! request; its log pane keeps only the last 100,000 characters anyway.
//!
//! A client that drops the body before the trailer is the Studio's "Stop": the route sends
//! `Command::AbandonHttpRun` and the engine does the rest (wait for the job id, SIGKILL,
//! cloud cancel). Once the server shuts down, open bodies end without that command:
//! stopping runs is then the engine's shutdown sequence.

use std::path::Path;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{oneshot, watch};

use super::AppState;
use super::body::BufferedBody;
use crate::core::engine::{
    Command, EngineHandle, OutputReceiver, RunHandle, RunOutput, StartRunError,
};
use crate::core::events::RunOrigin;

pub const TRAIN_PID_HEADER: &str = "x-arkor-train-pid";

/// The reference's refusal of custom entries while the watcher owns the artifact.
pub const CUSTOM_FILE_REFUSED: &str = "custom file runs are not supported while arkor dev's HMR watcher owns the build artifact; run `arkor start <file>` directly instead";

pub async fn train(State(state): State<AppState>, BufferedBody(body): BufferedBody) -> Response {
    // The reference parses leniently: a missing or malformed body means `{}`.
    let file = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("file").cloned())
        .filter(is_truthy);
    if let Some(file) = file {
        return refuse_custom_file(state.engine.project().root.as_path(), &file);
    }
    if *state.events_closed.borrow() {
        return super::json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &StartRunError::ShuttingDown.to_string(),
        );
    }
    let handle = match start_http_run(&state.engine).await {
        Ok(handle) => handle,
        Err(StartRunError::ShuttingDown) => {
            return super::json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                &StartRunError::ShuttingDown.to_string(),
            );
        }
        Err(e) => {
            return super::json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Failed to spawn training subprocess: {e}"),
            );
        }
    };
    let Some(output) = handle.output else {
        // The engine must hand HTTP runs their output; without it the body could never end.
        state
            .engine
            .send(Command::AbandonHttpRun { pid: handle.pid });
        return super::json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the engine started the run without an output stream",
        );
    };
    let stream = OutputStream {
        output,
        at_line_start: true,
        closed: state.server_closed.clone(),
        abandon: AbandonOnDrop {
            engine: state.engine.clone(),
            pid: handle.pid,
            armed: true,
        },
    };
    let mut response = Body::from_stream(futures::stream::unfold(stream, OutputStream::next_chunk))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(TRAIN_PID_HEADER, HeaderValue::from(handle.pid));
    response
}

/// Start an HTTP run such that a client gone before the engine answered (the request future
/// dropped) still gets its run abandoned instead of leaving it without a reader.
async fn start_http_run(engine: &EngineHandle) -> Result<RunHandle, StartRunError> {
    let (reply_tx, reply_rx) = oneshot::channel();
    let engine = engine.clone();
    tokio::spawn(async move {
        let started = engine.start_run(RunOrigin::Http).await;
        if let Err(Ok(orphan)) = reply_tx.send(started) {
            engine.send(Command::AbandonHttpRun { pid: orphan.pid });
        }
    });
    reply_rx.await.unwrap_or(Err(StartRunError::ShuttingDown))
}

/// JavaScript truthiness of a JSON value (the reference checks `if (body.file)`).
fn is_truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        serde_json::Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// A custom entry is always refused here (the watcher owns the artifact), after the same
/// existence and containment checks the reference runs first, so the error names the most
/// specific problem.
fn refuse_custom_file(root: &Path, file: &serde_json::Value) -> Response {
    let resolved = file.as_str().and_then(|f| {
        let base = root.canonicalize().ok()?;
        let target = base.join(f).canonicalize().ok()?;
        Some((base, target))
    });
    let message = match resolved {
        None => "file does not exist or is not accessible",
        Some((base, target)) if !target.starts_with(&base) => {
            "file must be inside the project directory"
        }
        Some(_) => CUSTOM_FILE_REFUSED,
    };
    super::json_error(StatusCode::BAD_REQUEST, message)
}

/// The notice that takes the place of output a slow client missed (the run never waits for
/// its client; see [`crate::core::run_output`]).
pub fn dropped_notice(bytes: u64) -> String {
    format!("arkor: {bytes} bytes of output dropped: the client fell behind\n")
}

struct OutputStream {
    output: OutputReceiver,
    closed: watch::Receiver<bool>,
    abandon: AbandonOnDrop,
    /// The last byte sent ended a line (a notice then needs no line break of its own).
    at_line_start: bool,
}

impl OutputStream {
    async fn next_chunk(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        if !self.abandon.armed {
            return None;
        }
        // Output first: at shutdown the run has usually exited already and its last bytes
        // and trailer are queued; they must reach the client before the body ends.
        let next = tokio::select! {
            biased;
            next = self.output.recv() => next,
            _ = self.closed.wait_for(|closed| *closed) => {
                self.abandon.armed = false;
                return None;
            }
        };
        let chunk = match next {
            Some(RunOutput::Data(bytes)) => {
                if let Some(&last) = bytes.last() {
                    self.at_line_start = last == b'\n';
                }
                return Some((Ok(bytes), self));
            }
            Some(RunOutput::Dropped(bytes)) => {
                // Stays a line of its own, whatever was cut.
                let lead = if self.at_line_start { "" } else { "\n" };
                self.at_line_start = true;
                let notice = format!("{lead}{}", dropped_notice(bytes));
                return Some((Ok(Bytes::from(notice)), self));
            }
            Some(RunOutput::Exited(status)) => match status.trailer_code() {
                Some(code) => format!("\n---\nexit={code}\n"),
                None => "\n---\nexit=null\n".to_owned(),
            },
            None => "\n---\nerror=the run's output ended without an exit status\n".to_owned(),
        };
        // The trailer is the last chunk: the run is over, nothing to abandon.
        self.abandon.armed = false;
        Some((Ok(Bytes::from(chunk)), self))
    }
}

/// Sends `AbandonHttpRun` when the response body is dropped before its trailer (the client
/// went away).
struct AbandonOnDrop {
    engine: EngineHandle,
    pid: u32,
    armed: bool,
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.engine.send(Command::AbandonHttpRun { pid: self.pid });
        }
    }
}
