//! Following a cloud training job's event stream
//! (`GET /v1/jobs/{id}/events/stream?orgSlug&projectSlug`): the SSE parser, the typed
//! events, replay filtering, reconnect backoff, the transport and the follower task.
//!
//! The engine owns one [`JobFollower`] per live run (spawned once the run's job id is
//! known, with the run's [`SpawnSnapshot`](super::snapshot::SpawnSnapshot)); its updates
//! feed the run's metric series (`crate::core::training`).

pub mod backoff;
pub mod dedupe;
pub mod event;
pub mod follower;
pub mod sse;
pub mod timestamp;
pub mod transport;

pub use backoff::BackoffPolicy;
pub use event::{JobEvent, JobEventKind, TrainingLog};
pub use follower::{
    EventBatch, FollowEnd, FollowerMessage, FollowerOptions, FollowerUpdate, JobFollower,
    StreamError, StreamHealth,
};
pub use transport::{EventBody, EventTransport, HttpEventTransport};
