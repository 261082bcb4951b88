//! `GET /api/dev/events`: the engine's dev events as server-sent events (docs/protocol.md §5.4–§5.6).
//!
//! Frames are `event: <type>\ndata: <json>\n\n`, nothing else (no id, retry or heartbeat).
//! A new connection first gets the last frame (replay), then live ones. The events arrive
//! already dispatched and augmented by the engine; this route only forwards bytes, so any
//! number of subscribers never changes what the children are sent.
//!
//! Each subscriber reads its own cursor into the engine's bounded broadcast ring, so a
//! subscriber that stops reading never slows the publisher or the others; once it falls a
//! full ring behind it is disconnected (it can reconnect and gets the replay).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use super::AppState;
use crate::core::events::DevEvent;

pub async fn dev_events(State(state): State<AppState>) -> Response {
    if *state.events_closed.borrow() {
        return super::json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "arkor is shutting down; no further dev events are sent",
        );
    }
    let (replay, live) = state.engine.subscribe_dev();
    let stream = FrameStream {
        replay,
        live,
        closed: state.events_closed.clone(),
        frames: state.frames.clone(),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache, no-transform"),
        ],
        Body::from_stream(futures::stream::unfold(stream, FrameStream::next_frame)),
    )
        .into_response()
}

struct FrameStream {
    replay: Option<Arc<DevEvent>>,
    live: broadcast::Receiver<Arc<DevEvent>>,
    closed: watch::Receiver<bool>,
    frames: Arc<FrameCache>,
}

impl FrameStream {
    async fn next_frame(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        if *self.closed.borrow() {
            return None;
        }
        if let Some(event) = self.replay.take() {
            let frame = self.frames.frame(&event);
            return Some((Ok(frame), self));
        }
        let event = tokio::select! {
            // Shutdown wins over a pending event: nothing is sent once it began.
            biased;
            _ = self.closed.wait_for(|closed| *closed) => return None,
            received = self.live.recv() => match received {
                Ok(event) => event,
                // Lagged: this subscriber fell a full ring behind; drop it so it reconnects.
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return None,
            },
        };
        let frame = self.frames.frame(&event);
        Some((Ok(frame), self))
    }
}

/// The encoded frame of the newest event, shared by all subscribers: with N subscribers an
/// event is serialised once, not N times.
#[derive(Default)]
pub struct FrameCache {
    newest: Mutex<Option<(Arc<DevEvent>, Bytes)>>,
}

impl FrameCache {
    fn frame(&self, event: &Arc<DevEvent>) -> Bytes {
        let mut newest = self.newest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, frame)) = newest.as_ref()
            && Arc::ptr_eq(cached, event)
        {
            return frame.clone();
        }
        let frame = Bytes::from(event.to_sse_frame());
        *newest = Some((event.clone(), frame.clone()));
        frame
    }
}
