//! Where a follower's bytes come from. The real one opens the cloud's event stream over
//! HTTP with the spawn-time identity; tests (and the benchmark) plug in scripted streams
//! to drive the same follower on paused time, without a network.

use std::future::Future;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::core::cloud::client::{CloudClient, CloudError};
use crate::core::cloud::state::ProjectScope;

/// The body of one open stream: chunks of bytes, then the end (clean close) or an error
/// (the connection broke).
pub type EventBody = BoxStream<'static, Result<Bytes, CloudError>>;

pub trait EventTransport: Send + 'static {
    /// Open the stream, resuming after `last_event_id` when given.
    fn open(
        &mut self,
        last_event_id: Option<&str>,
    ) -> impl Future<Output = Result<EventBody, CloudError>> + Send;
}

/// `GET {base}/v1/jobs/{id}/events/stream?orgSlug&projectSlug` with the client's bearer
/// token and `X-Arkor-Client`.
pub struct HttpEventTransport {
    client: CloudClient,
    scope: ProjectScope,
    job_id: String,
}

impl HttpEventTransport {
    pub fn new(client: CloudClient, scope: ProjectScope, job_id: impl Into<String>) -> Self {
        Self {
            client,
            scope,
            job_id: job_id.into(),
        }
    }
}

impl EventTransport for HttpEventTransport {
    async fn open(&mut self, last_event_id: Option<&str>) -> Result<EventBody, CloudError> {
        let response = self
            .client
            .open_job_events(&self.job_id, &self.scope, last_event_id)
            .await?;
        let client = self.client.clone();
        let url = response.url().to_string();
        Ok(response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| client.transport_error(&url, &e)))
            .boxed())
    }
}
