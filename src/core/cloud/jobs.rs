//! The project's training jobs on the cloud (`GET /v1/jobs?orgSlug&projectSlug`), typed:
//! the jobs started here, elsewhere, or in an earlier session, newest first.

use std::time::SystemTime;

use reqwest::Method;
use serde_json::Value;

use super::client::{CloudClient, CloudError, UpstreamRequest};
use super::job_events::timestamp::parse_rfc3339;
use super::state::ProjectScope;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    /// A status this client does not know yet, as the cloud spelled it.
    Other(String),
}

impl JobStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Other(other) => other,
        }
    }

    /// Nothing more will happen to the job.
    pub fn is_over(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// One job as the list reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudJob {
    pub id: String,
    pub name: String,
    pub status: JobStatus,
    pub created_at: Option<SystemTime>,
    pub started_at: Option<SystemTime>,
    pub completed_at: Option<SystemTime>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The job config it was created with (`null` when the list leaves it out).
    pub config: Value,
}

impl CloudJob {
    /// Training time: start to end, or start to `now` while it runs.
    pub fn duration(&self, now: SystemTime) -> Option<std::time::Duration> {
        let start = self.started_at?;
        let end = match self.completed_at {
            Some(end) => end,
            None if !self.status.is_over() => now,
            None => return None,
        };
        end.duration_since(start).ok()
    }

    /// Whether chatting with (or deploying) its final adapter can work.
    pub fn has_final_adapter(&self) -> bool {
        self.status == JobStatus::Completed
    }
}

impl UpstreamRequest {
    /// `GET /v1/jobs` with the scope query.
    pub fn list_jobs(scope: &ProjectScope) -> Self {
        Self::new(Method::GET, "/v1/jobs").scoped(scope)
    }
}

impl CloudClient {
    /// The project's jobs, newest first.
    pub async fn list_jobs(&self, scope: &ProjectScope) -> Result<Vec<CloudJob>, CloudError> {
        let body = self.call_json(UpstreamRequest::list_jobs(scope)).await?;
        parse_jobs(&body).map_err(|reason| CloudError::Decode {
            path: "/v1/jobs".into(),
            reason,
        })
    }
}

/// `{jobs: [...]}` → jobs newest first (by `createdAt`; the cloud's order breaks ties). An
/// item without a string `id` makes the answer unreadable; other fields are lenient.
pub fn parse_jobs(body: &Value) -> Result<Vec<CloudJob>, String> {
    let items = body
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(|| "expected {jobs: [...]}".to_owned())?;
    let mut jobs = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_job(item).ok_or_else(|| format!("jobs[{i}] has no string id")))
        .collect::<Result<Vec<_>, _>>()?;
    // Stable: jobs without a readable date keep the cloud's order, after the dated ones.
    jobs.sort_by(|a, b| match (a.created_at, b.created_at) {
        (Some(a), Some(b)) => b.cmp(&a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ok(jobs)
}

fn parse_job(item: &Value) -> Option<CloudJob> {
    let text = |key: &str| item.get(key).and_then(Value::as_str);
    let time = |key: &str| text(key).and_then(parse_rfc3339);
    Some(CloudJob {
        id: text("id")?.to_owned(),
        name: text("name").unwrap_or_default().to_owned(),
        status: JobStatus::parse(text("status").unwrap_or("unknown")),
        created_at: time("createdAt"),
        started_at: time("startedAt"),
        completed_at: time("completedAt"),
        error: text("error").filter(|e| !e.is_empty()).map(str::to_owned),
        config: item.get("config").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn jobs_are_listed_newest_first_and_read_leniently() {
        let body = json!({"jobs": [
            {"id": "old", "name": "a", "status": "completed", "createdAt": "2026-05-01T00:00:00Z",
             "startedAt": "2026-05-01T00:00:01Z", "completedAt": "2026-05-01T00:01:01Z"},
            {"id": "new", "name": "b", "status": "running", "createdAt": "2026-05-02T00:00:00Z",
             "startedAt": "2026-05-02T00:00:00Z", "completedAt": null, "error": null},
            {"id": "odd", "status": "paused", "createdAt": "not a date"},
        ]});
        let jobs = parse_jobs(&body).unwrap();
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["new", "old", "odd"]);
        assert_eq!(jobs[2].status, JobStatus::Other("paused".into()));
        assert_eq!(jobs[2].name, "");
        assert_eq!(
            jobs[1].duration(SystemTime::UNIX_EPOCH),
            Some(Duration::from_secs(60))
        );
        let now = parse_rfc3339("2026-05-02T00:00:30Z").unwrap();
        assert_eq!(jobs[0].duration(now), Some(Duration::from_secs(30)));
        assert!(jobs[1].has_final_adapter() && !jobs[0].has_final_adapter());
    }

    #[test]
    fn a_list_without_ids_is_unreadable() {
        assert!(parse_jobs(&json!({"jobs": [{"name": "x"}]})).is_err());
        assert!(parse_jobs(&json!({"items": []})).is_err());
        assert_eq!(parse_jobs(&json!({"jobs": []})), Ok(vec![]));
    }
}
