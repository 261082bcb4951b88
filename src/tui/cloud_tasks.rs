//! The dashboard's calls to the project's cloud (the cloud views: the job list, a job's event
//! stream, a cancel, a chat, the deployments and their keys). The App asks with [`CloudRequest`]s and stays free of I/O; the event
//! loop hands them to [`CloudTasks`], which runs each on its own task through the core cloud
//! client ([`ProjectCloud`]) and sends a [`CloudReply`] back, so a slow or absent cloud never
//! freezes the screen.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::core::cloud::endpoints::{Deployment, DeploymentKey};
use crate::core::cloud::inference::{ChatError, ChatRequest};
use crate::core::cloud::job_events::{
    FollowerMessage, FollowerOptions, FollowerUpdate, HttpEventTransport, JobFollower,
};
use crate::core::cloud::jobs::CloudJob;
use crate::core::cloud::{CloudClient, CloudError, ProjectCloud, ProjectScope, ScopeError, Scoped};
use crate::tui::views::endpoints::{ChangeOutcome, EndpointChange};

/// Something a cloud view wants done.
#[derive(Clone, Debug, PartialEq)]
pub enum CloudRequest {
    /// The project's jobs; `generation` tells a late answer from the current one.
    ListJobs { generation: u64 },
    /// Replay one job's event stream from its start and keep following it (replaces the job
    /// followed before).
    FollowJob { job_id: String },
    /// Stop following the job's stream (its detail was closed).
    StopFollowing,
    /// `POST /v1/jobs/{id}/cancel`.
    CancelJob { job_id: String },
    /// One chat turn (`POST /v1/inference/chat`), its reply streamed back piece by piece.
    /// The project is bootstrapped first for an anonymous identity without one.
    Chat { chat_id: u64, request: ChatRequest },
    /// Stop the streaming reply of `chat_id` (its connection is closed).
    StopChat { chat_id: u64 },
    /// The project's deployments (`GET /v1/endpoints`).
    ListDeployments { generation: u64 },
    /// One deployment's API keys.
    ListKeys { deployment_id: String },
    /// A create, update, delete, key create or key revoke; a create bootstraps the project
    /// first for an anonymous identity without one.
    ChangeEndpoint(EndpointChange),
}

/// What a cloud call came back with.
#[derive(Debug)]
pub enum CloudReply {
    Jobs {
        generation: u64,
        result: Result<Vec<CloudJob>, CloudProblem>,
    },
    /// An update of the followed job's stream.
    JobUpdate {
        job_id: String,
        update: FollowerUpdate,
    },
    /// The job's stream could not be opened at all.
    FollowFailed {
        job_id: String,
        problem: CloudProblem,
    },
    Cancelled {
        job_id: String,
        result: Result<(), CloudProblem>,
    },
    /// A piece of a chat reply, as it arrived.
    ChatText { chat_id: u64, text: String },
    /// The reply is complete, or ended with `error` (the cloud's body as sent, or why the
    /// chat could not be sent).
    ChatEnded { chat_id: u64, error: Option<String> },
    Deployments {
        generation: u64,
        result: Result<Vec<Deployment>, CloudProblem>,
    },
    Keys {
        deployment_id: String,
        result: Result<Vec<DeploymentKey>, CloudProblem>,
    },
    /// What a change came back with; `Err` is the line to show (the cloud's reason).
    EndpointChanged {
        change: EndpointChange,
        result: Result<ChangeOutcome, String>,
    },
}

/// Why a cloud view has nothing to show, in the words the view uses: what is wrong and what
/// to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloudProblem {
    /// `.arkor/state.json` is missing: the project has no cloud jobs yet.
    NoProjectState,
    /// The state belongs to another org than the anonymous identity's.
    StaleScope(String),
    /// No usable identity (none on file and none could be minted, or unreadable).
    Session(String),
    /// The cloud did not answer.
    Unreachable(String),
    /// The cloud answered with an error, or an answer that cannot be read.
    Cloud(String),
    /// No home directory: credentials cannot be kept, the cloud views are off.
    NoHome,
}

impl CloudProblem {
    /// One line: what is wrong.
    pub fn what(&self) -> String {
        match self {
            Self::NoProjectState => {
                "No .arkor/state.json in this project yet: it has no cloud jobs.".into()
            }
            Self::StaleScope(message) | Self::Session(message) | Self::Cloud(message) => {
                message.clone()
            }
            Self::Unreachable(message) => message.clone(),
            Self::NoHome => {
                "No home directory (HOME is unset): arkor cannot keep cloud credentials.".into()
            }
        }
    }

    /// One line: what to do.
    pub fn advice(&self) -> &'static str {
        match self {
            Self::NoProjectState => {
                "Start a run (1, then s): its job creates the project's state, and its jobs are listed here."
            }
            Self::StaleScope(_) => {
                "Fix or remove .arkor/state.json (or sign in as its owner with arkor login); r retries."
            }
            Self::Session(_) => "Sign in with arkor login; r retries.",
            Self::Unreachable(_) => {
                "Check the network or ARKOR_CLOUD_API_URL; the list retries every 5 s (r: now)."
            }
            Self::Cloud(_) => "r retries.",
            Self::NoHome => "Set HOME and start arkor tui again.",
        }
    }

    fn from_scope(error: ScopeError) -> Self {
        match error {
            ScopeError::NoState => Self::NoProjectState,
            ScopeError::Stale => Self::StaleScope(error.to_string()),
            ScopeError::OAuthMissing => Self::StaleScope(error.to_string()),
            ScopeError::Session(e) => Self::Session(e.to_string()),
            ScopeError::Bootstrap { source, .. } => Self::Cloud(source.to_string()),
        }
    }

    fn from_cloud(error: &CloudError) -> Self {
        match error {
            CloudError::Unreachable { .. } | CloudError::InvalidUrl { .. } => {
                Self::Unreachable(error.to_string())
            }
            other => Self::Cloud(other.to_string()),
        }
    }
}

/// Runs the dashboard's cloud requests, one task each; at most one job stream is followed.
pub struct CloudTasks {
    cloud: Option<ProjectCloud>,
    replies: mpsc::UnboundedSender<CloudReply>,
    follow: Option<JoinHandle<()>>,
    /// The streaming chat reply, by chat id.
    chat: Option<(u64, JoinHandle<()>)>,
}

impl CloudTasks {
    /// `cloud`: `None` when there is no home directory (every request answers so).
    pub fn new(cloud: Option<ProjectCloud>, replies: mpsc::UnboundedSender<CloudReply>) -> Self {
        Self {
            cloud,
            replies,
            follow: None,
            chat: None,
        }
    }

    pub fn run(&mut self, request: CloudRequest) {
        if matches!(
            request,
            CloudRequest::FollowJob { .. } | CloudRequest::StopFollowing
        ) && let Some(task) = self.follow.take()
        {
            // Dropping the follower inside the task stops its stream.
            task.abort();
        }
        if let CloudRequest::StopChat { chat_id } = &request {
            if let Some((_, task)) = self.chat.take_if(|(id, _)| id == chat_id) {
                // Dropping the reply closes the connection: the cloud stops writing.
                task.abort();
            }
            return;
        }
        let replies = self.replies.clone();
        let Some(cloud) = self.cloud.clone() else {
            let problem = CloudProblem::NoHome;
            let _ = replies.send(match request {
                CloudRequest::ListJobs { generation } => CloudReply::Jobs {
                    generation,
                    result: Err(problem),
                },
                CloudRequest::FollowJob { job_id } => CloudReply::FollowFailed { job_id, problem },
                CloudRequest::CancelJob { job_id } => CloudReply::Cancelled {
                    job_id,
                    result: Err(problem),
                },
                CloudRequest::Chat { chat_id, .. } => CloudReply::ChatEnded {
                    chat_id,
                    error: Some(problem.what()),
                },
                CloudRequest::ListDeployments { generation } => CloudReply::Deployments {
                    generation,
                    result: Err(problem),
                },
                CloudRequest::ListKeys { deployment_id } => CloudReply::Keys {
                    deployment_id,
                    result: Err(problem),
                },
                CloudRequest::ChangeEndpoint(change) => CloudReply::EndpointChanged {
                    change,
                    result: Err(problem.what()),
                },
                CloudRequest::StopFollowing | CloudRequest::StopChat { .. } => return,
            });
            return;
        };
        match request {
            CloudRequest::ListJobs { generation } => {
                tokio::spawn(async move {
                    let result = list_jobs(&cloud).await;
                    let _ = replies.send(CloudReply::Jobs { generation, result });
                });
            }
            CloudRequest::FollowJob { job_id } => {
                self.follow = Some(tokio::spawn(follow_job(cloud, job_id, replies)));
            }
            CloudRequest::StopFollowing | CloudRequest::StopChat { .. } => {}
            CloudRequest::Chat { chat_id, request } => {
                let task = tokio::spawn(chat(cloud, chat_id, request, replies));
                if let Some((_, old)) = self.chat.replace((chat_id, task)) {
                    old.abort();
                }
            }
            CloudRequest::CancelJob { job_id } => {
                tokio::spawn(async move {
                    let result = cancel_job(&cloud, &job_id).await;
                    let _ = replies.send(CloudReply::Cancelled { job_id, result });
                });
            }
            CloudRequest::ListDeployments { generation } => {
                tokio::spawn(async move {
                    let result = list_deployments(&cloud).await;
                    let _ = replies.send(CloudReply::Deployments { generation, result });
                });
            }
            CloudRequest::ListKeys { deployment_id } => {
                tokio::spawn(async move {
                    let result = list_keys(&cloud, &deployment_id).await;
                    let _ = replies.send(CloudReply::Keys {
                        deployment_id,
                        result,
                    });
                });
            }
            CloudRequest::ChangeEndpoint(change) => {
                tokio::spawn(async move {
                    let result = change_endpoint(&cloud, &change).await;
                    let _ = replies.send(CloudReply::EndpointChanged { change, result });
                });
            }
        }
    }
}

impl Drop for CloudTasks {
    fn drop(&mut self) {
        if let Some(task) = self.follow.take() {
            task.abort();
        }
        if let Some((_, task)) = self.chat.take() {
            task.abort();
        }
    }
}

/// Send one chat turn and stream its reply back until it ends or the task is aborted.
async fn chat(
    cloud: ProjectCloud,
    chat_id: u64,
    request: ChatRequest,
    replies: mpsc::UnboundedSender<CloudReply>,
) {
    let ended = |error: Option<String>| CloudReply::ChatEnded { chat_id, error };
    let scoped = match cloud.bootstrap_scope().await {
        Ok(scoped) => scoped,
        Err(e) => {
            let _ = replies.send(ended(Some(CloudProblem::from_scope(e).what())));
            return;
        }
    };
    let opened = scoped.client.open_chat(&scoped.scope, &request).await;
    cloud.note_deprecation(scoped.client.deprecation());
    let mut reply = match opened {
        Ok(reply) => {
            cloud.note_reachable();
            reply
        }
        Err(e) => {
            if let ChatError::Cloud(cloud_error) = &e {
                cloud.note_error(cloud_error);
            }
            let _ = replies.send(ended(Some(e.to_string())));
            return;
        }
    };
    while let Some(piece) = reply.next_text().await {
        match piece {
            Ok(text) => {
                if replies
                    .send(CloudReply::ChatText { chat_id, text })
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => {
                let _ = replies.send(ended(Some(e.to_string())));
                return;
            }
        }
    }
    let _ = replies.send(ended(None));
}

/// Run `call` in `scoped` (the project's scope and client), noting a deprecation and whether
/// the cloud answered; a missing scope or a failed call reads as the views say it.
async fn call_in_scope<T>(
    cloud: &ProjectCloud,
    scoped: Result<Scoped, ScopeError>,
    call: impl AsyncFnOnce(&CloudClient, &ProjectScope) -> Result<T, CloudError>,
) -> Result<T, CloudProblem> {
    let scoped = scoped.map_err(CloudProblem::from_scope)?;
    let result = call(&scoped.client, &scoped.scope).await;
    cloud.note_deprecation(scoped.client.deprecation());
    cloud.note_outcome(&result);
    result.map_err(|e| CloudProblem::from_cloud(&e))
}

async fn list_jobs(cloud: &ProjectCloud) -> Result<Vec<CloudJob>, CloudProblem> {
    let scoped = cloud.existing_scope().await;
    call_in_scope(cloud, scoped, async |client, scope| {
        client.list_jobs(scope).await
    })
    .await
}

async fn cancel_job(cloud: &ProjectCloud, job_id: &str) -> Result<(), CloudProblem> {
    let scoped = cloud.existing_scope().await;
    call_in_scope(cloud, scoped, async |client, scope| {
        client.cancel_job(job_id, scope).await
    })
    .await
}

async fn list_deployments(cloud: &ProjectCloud) -> Result<Vec<Deployment>, CloudProblem> {
    let scoped = cloud.existing_scope().await;
    call_in_scope(cloud, scoped, async |client, scope| {
        client.list_deployments(scope).await
    })
    .await
}

async fn list_keys(
    cloud: &ProjectCloud,
    deployment_id: &str,
) -> Result<Vec<DeploymentKey>, CloudProblem> {
    let scoped = cloud.existing_scope().await;
    call_in_scope(cloud, scoped, async |client, scope| {
        client.list_deployment_keys(scope, deployment_id).await
    })
    .await
}

/// Make one change. A create may bootstrap the project (an anonymous identity without
/// state gets its cloud project first, as the Studio's create does); the rest need the
/// project's state.
async fn change_endpoint(
    cloud: &ProjectCloud,
    change: &EndpointChange,
) -> Result<ChangeOutcome, String> {
    let scoped = match change {
        EndpointChange::Create { .. } => cloud.bootstrap_scope().await,
        _ => cloud.existing_scope().await,
    };
    let outcome = call_in_scope(cloud, scoped, async |client, scope| match change {
        EndpointChange::Create { body, .. } => client
            .create_deployment(scope, body.clone())
            .await
            .map(ChangeOutcome::Deployment),
        EndpointChange::SetEnabled { id, enabled, .. } => client
            .set_deployment_enabled(scope, id, *enabled)
            .await
            .map(ChangeOutcome::Deployment),
        EndpointChange::Delete { id, .. } => client
            .delete_deployment(scope, id)
            .await
            .map(|()| ChangeOutcome::Gone),
        EndpointChange::CreateKey { id, body, .. } => client
            .create_deployment_key(scope, id, body.clone())
            .await
            .map(ChangeOutcome::Key),
        EndpointChange::RevokeKey { id, key_id, .. } => client
            .revoke_deployment_key(scope, id, key_id)
            .await
            .map(|()| ChangeOutcome::Gone),
    })
    .await;
    outcome.map_err(|problem| problem.what())
}

/// Follow `job_id` from the start of its stream until the job ends or the task is aborted.
async fn follow_job(
    cloud: ProjectCloud,
    job_id: String,
    replies: mpsc::UnboundedSender<CloudReply>,
) {
    let scoped = match cloud.existing_scope().await {
        Ok(scoped) => scoped,
        Err(e) => {
            let problem = CloudProblem::from_scope(e);
            let _ = replies.send(CloudReply::FollowFailed { job_id, problem });
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel::<FollowerMessage<()>>(64);
    let transport = HttpEventTransport::new(scoped.client, scoped.scope, job_id.clone());
    // Held for the loop's lifetime: dropping it (task aborted) stops the stream.
    let _follower = JobFollower::spawn_with(transport, (), tx, FollowerOptions::default());
    while let Some(FollowerMessage { update, .. }) = rx.recv().await {
        let reply = CloudReply::JobUpdate {
            job_id: job_id.clone(),
            update,
        };
        if replies.send(reply).is_err() {
            break;
        }
    }
}
