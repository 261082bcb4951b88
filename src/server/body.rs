//! Request bodies: a deadline for their arrival on every route, and a buffered extractor with
//! the size limit every route shares whose refusals have the shape of every other `/api`
//! error (`{"error": …}`), not axum's plain text.

use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;

/// Largest request body a route reads into memory (the chat passthrough forwards its body
/// upstream whatever its size).
pub const MAX_BUFFERED_BODY: usize = 2 * 1024 * 1024;

/// Why a body read failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    #[error("the request body did not arrive within {} s", .0.as_secs_f64())]
    TimedOut(Duration),
    #[error("reading the request body failed: {0}")]
    Failed(#[source] axum::Error),
}

/// Middleware: a request body must arrive whole within `timeout` of its headers, so a client
/// that declares a body and stalls cannot hold a connection (and a handler) forever. Reading
/// it then fails with [`BodyReadError::TimedOut`].
pub async fn body_deadline(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let (parts, body) = request.into_parts();
    let chunks = futures::stream::unfold(Some(body.into_data_stream()), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
            Ok(Some(Err(e))) => Some((Err(BodyReadError::Failed(e)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(BodyReadError::TimedOut(timeout)), None)),
        }
    });
    next.run(Request::from_parts(parts, Body::from_stream(chunks)))
        .await
}

/// A request body read whole, at most [`MAX_BUFFERED_BODY`] bytes.
pub struct BufferedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BufferedBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A declared size over the limit is refused before anything is read.
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BUFFERED_BODY as u64) {
            return Err(too_large());
        }
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(BufferedBody(bytes)),
            Err(rejection) => {
                let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
                while let Some(e) = cause {
                    if let Some(e @ BodyReadError::TimedOut(_)) = e.downcast_ref::<BodyReadError>()
                    {
                        return Err(super::json_error(
                            StatusCode::REQUEST_TIMEOUT,
                            &e.to_string(),
                        ));
                    }
                    cause = e.source();
                }
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    return Err(too_large());
                }
                Err(super::json_error(
                    rejection.status(),
                    &rejection.body_text(),
                ))
            }
        }
    }
}

fn too_large() -> Response {
    super::json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "request body too large: at most {} MiB is accepted",
            MAX_BUFFERED_BODY / (1024 * 1024)
        ),
    )
}
