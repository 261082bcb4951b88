//! `GET /api/manifest` (docs/protocol.md §8): `{"trainer": {"name"} | null, "configHash": string | null}`
//! of the current artifact, as the reference's HMR fast path answers it.
//!
//! The engine already inspected every build it published, so this reads the last dev event
//! instead of importing the artifact again: no Node process per poll, and the answer always
//! agrees with the SSE stream. While the latest event is an `error` the route answers 400
//! (the reference's gate against a poll silently overwriting the SPA's build-error state);
//! before the first build it answers the empty summary.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::core::events::DevEvent;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ManifestSummary {
    pub trainer: Option<TrainerSummary>,
    #[serde(rename = "configHash")]
    pub config_hash: Option<String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TrainerSummary {
    pub name: String,
}

/// The reference's message while the watcher is in the error state.
pub const BUILD_FAILED_MESSAGE: &str = "Build failed; see HMR error frame";

/// The summary of the last dev event, or `Err(message)` while the build is failing.
pub fn summarise(last: Option<&DevEvent>) -> Result<ManifestSummary, &'static str> {
    match last {
        None => Ok(ManifestSummary {
            trainer: None,
            config_hash: None,
        }),
        Some(DevEvent::Error { .. }) => Err(BUILD_FAILED_MESSAGE),
        Some(DevEvent::Built { artifact, .. }) => Ok(ManifestSummary {
            trainer: artifact
                .trainer_name
                .clone()
                .map(|name| TrainerSummary { name }),
            config_hash: artifact.config_hash.clone(),
        }),
    }
}

pub async fn manifest(State(state): State<AppState>) -> Response {
    let (last, _live) = state.engine.subscribe_dev();
    match summarise(last.as_deref()) {
        Ok(summary) => Json(summary).into_response(),
        Err(message) => super::json_error(StatusCode::BAD_REQUEST, message),
    }
}
