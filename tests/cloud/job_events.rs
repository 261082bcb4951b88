//! The follower of a cloud job's event stream, over real HTTP against the fake cloud:
//! the spawn-time identity and scope, resume after a cut without double counting, a cloud
//! that replays everything, malformed frames, the end of a job, stop, rejection, and an
//! unreachable cloud reported once per outage.

use std::time::Duration;

use arkor_tui::core::cloud::SpawnSnapshot;
use arkor_tui::core::cloud::client::CloudError;
use arkor_tui::core::cloud::job_events::{
    BackoffPolicy, FollowEnd, FollowerMessage, FollowerOptions, FollowerUpdate, JobEvent,
    JobFollower, StreamError, StreamHealth,
};
use arkor_tui::core::training::{Applied, CloudVerdict, RunMetrics};
use serde_json::json;
use tokio::sync::mpsc;

use super::fake::Canned;
use super::harness::{Builder, Studio, state, write_json};

/// Quick retries so an outage test takes a fraction of a second.
pub fn fast_options() -> FollowerOptions {
    FollowerOptions {
        backoff: BackoffPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
            jitter: 0.25,
        },
        batch_window: Duration::from_millis(20),
        ..FollowerOptions::default()
    }
}

/// A follower and what it delivered, applied to a run's metrics as the engine would.
pub struct Following {
    rx: mpsc::Receiver<FollowerMessage<u32>>,
    pub follower: Option<JobFollower>,
    pub metrics: RunMetrics,
    /// Every event the follower delivered (before the metrics' own replay check).
    pub delivered: Vec<JobEvent>,
    pub health: Vec<StreamHealth>,
    pub malformed: u32,
    pub end: Option<FollowEnd>,
}

impl Following {
    pub fn start(snapshot: SpawnSnapshot, job_id: &str, max_steps: Option<u64>) -> Self {
        let (tx, rx) = mpsc::channel(16);
        let follower = JobFollower::spawn(snapshot, job_id, 1u32, tx, fast_options());
        Self {
            rx,
            follower: Some(follower),
            metrics: RunMetrics::new(max_steps),
            delivered: Vec::new(),
            health: Vec::new(),
            malformed: 0,
            end: None,
        }
    }

    /// Take the next update; `None` once the follower is gone.
    pub async fn step(&mut self) -> Option<()> {
        let message = tokio::time::timeout(Duration::from_secs(30), self.rx.recv())
            .await
            .expect("an update within 30 s")?;
        assert_eq!(message.tag, 1);
        if let FollowerUpdate::Events(batch) = &message.update {
            self.delivered.extend(batch.events.iter().cloned());
        }
        match self.metrics.apply(message.update) {
            Applied::Events { malformed, .. } => self.malformed += malformed,
            Applied::Health(health) => self.health.push(health),
            Applied::Ended(end) => self.end = Some(end),
        }
        Some(())
    }

    /// Take updates until `done` holds.
    pub async fn until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        while !done(self) {
            if self.step().await.is_none() {
                panic!("the follower ended before {what}: {:?}", self.end);
            }
        }
    }

    /// Take updates until the follower has ended.
    pub async fn run_to_the_end(&mut self) {
        while self.step().await.is_some() {}
        if let Some(follower) = self.follower.take() {
            tokio::time::timeout(Duration::from_secs(10), follower.finished())
                .await
                .expect("the follower task ends after its last update");
        }
    }

    pub fn step_reached(&self) -> Option<u64> {
        self.metrics.progress().step
    }

    /// Steps of delivered training-loss frames, in order.
    pub fn delivered_loss_steps(&self) -> Vec<u64> {
        self.delivered
            .iter()
            .filter_map(|e| match &e.kind {
                arkor_tui::core::cloud::job_events::JobEventKind::Log(log)
                    if log.loss.is_some() =>
                {
                    Some(log.step)
                }
                _ => None,
            })
            .collect()
    }
}

async fn studio() -> Studio {
    Builder::new().state(state("anon-org", "p")).start().await
}

fn snapshot(studio: &Studio) -> SpawnSnapshot {
    SpawnSnapshot::capture_in(&studio.project_root, studio.env())
}

#[tokio::test]
async fn follows_a_job_to_its_end_with_the_spawn_time_identity_and_scope() {
    let studio = studio().await;
    let job = studio.fake.job_timeline("job-1");
    job.started();
    for step in 1..=20 {
        job.log(step, 2.0 / step as f64);
        if step % 10 == 0 {
            job.eval(step, 3.0 / step as f64);
            job.checkpoint(step);
        }
    }
    let snapshot = snapshot(&studio);
    // A login switch after spawn does not redirect the stream.
    write_json(
        &studio.credentials_path(),
        &json!({"mode": "anon", "token": "someone-else", "anonymousId": "x",
            "arkorCloudApiUrl": "http://127.0.0.1:9", "orgSlug": "other"}),
    );
    let mut following = Following::start(snapshot, "job-1", Some(20));
    following
        .until("step 20", |f| f.step_reached() == Some(20))
        .await;
    job.completed();
    job.end();
    following.run_to_the_end().await;

    assert_eq!(following.end, Some(FollowEnd::JobEnded));
    assert_eq!(following.health, vec![StreamHealth::Live]);
    let metrics = &following.metrics;
    assert_eq!(metrics.loss().len(), 20);
    assert_eq!(metrics.eval_loss().len(), 2);
    assert_eq!(metrics.checkpoints().latest(), Some(20));
    assert_eq!(metrics.verdict(), Some(&CloudVerdict::Completed));
    let progress = metrics.progress();
    assert_eq!(progress.step, Some(20));
    assert_eq!(progress.fraction(), Some(1.0));
    assert_eq!(progress.loss, Some(0.1));
    assert_eq!(progress.eval_loss, Some(0.15));
    // The fake's frames are 100 ms apart on its clock; 20 logs among 27 frames.
    assert!(
        progress
            .steps_per_second
            .is_some_and(|r| r > 5.0 && r < 10.0)
    );

    let requests = studio.fake.stream_requests("job-1");
    assert_eq!(requests.len(), 1, "one connection for a job that ends");
    let sent = &requests[0];
    assert_eq!(
        sent.uri(),
        "/v1/jobs/job-1/events/stream?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(sent.header("authorization"), Some("Bearer tok"));
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
    assert!(
        sent.header("x-arkor-client")
            .is_some_and(|v| v.starts_with("arkor/"))
    );
    assert_eq!(sent.header("last-event-id"), None);
    assert!(studio.fake.wait_streams_closed(1).await);
}

#[tokio::test]
async fn a_cut_stream_resumes_after_the_last_id_and_never_counts_a_step_twice() {
    let studio = studio().await;
    let job = studio.fake.job_timeline("job-cut");
    job.started();
    let mut last_id = String::new();
    for step in 1..=50 {
        last_id = job.log(step, 1.0 / step as f64);
    }
    let mut following = Following::start(snapshot(&studio), "job-cut", Some(100));
    following
        .until("step 50", |f| f.step_reached() == Some(50))
        .await;
    job.cut_connections();
    for step in 51..=100 {
        job.log(step, 1.0 / step as f64);
    }
    job.completed();
    job.end();
    following.run_to_the_end().await;

    let requests = studio.fake.stream_requests("job-cut");
    assert_eq!(requests.len(), 2, "one reconnect");
    assert_eq!(requests[1].header("last-event-id"), Some(last_id.as_str()));
    assert_eq!(
        following.delivered_loss_steps(),
        (1..=100).collect::<Vec<_>>()
    );
    assert_eq!(following.metrics.loss().len(), 100);
    assert_eq!(
        following.health,
        vec![StreamHealth::Live],
        "a cut that heals at once is not an outage"
    );
}

#[tokio::test]
async fn a_cloud_that_replays_everything_on_reconnect_still_counts_each_step_once() {
    let studio = studio().await;
    let job = studio.fake.job_timeline("job-replay");
    job.ignore_last_event_id(true);
    job.started();
    for step in 1..=30 {
        job.log(step, 1.0 / step as f64);
        if step % 10 == 0 {
            job.eval(step, 2.0 / step as f64);
            job.checkpoint(step);
        }
    }
    let mut following = Following::start(snapshot(&studio), "job-replay", None);
    following
        .until("step 30", |f| f.metrics.checkpoints().latest() == Some(30))
        .await;
    job.cut_connections();
    // The replay brings nothing new, so no update announces the reconnect: watch the fake.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while studio.fake.stream_requests("job-replay").len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no reconnect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    job.cut_connections(); // and once more, mid-replay or after it
    for step in 31..=40 {
        job.log(step, 1.0 / step as f64);
    }
    job.completed();
    job.end();
    following.run_to_the_end().await;

    assert!(studio.fake.stream_requests("job-replay").len() >= 3);
    assert_eq!(
        following.delivered_loss_steps(),
        (1..=40).collect::<Vec<_>>(),
        "the follower itself drops the replay"
    );
    let metrics = &following.metrics;
    assert_eq!(metrics.loss().len(), 40);
    assert_eq!(metrics.eval_loss().len(), 3);
    assert_eq!(metrics.checkpoints().saved(), 3);
    assert_eq!(metrics.verdict(), Some(&CloudVerdict::Completed));
}

#[tokio::test]
async fn malformed_frames_are_skipped_and_counted() {
    let studio = studio().await;
    let job = studio.fake.job_timeline("job-bad");
    job.started();
    job.log(1, 1.0);
    job.malformed("{not json");
    job.log(2, 0.9);
    job.malformed(r#"{"type":"training.log","step":"three","loss":0.8}"#);
    job.push_raw(
        "training.log",
        r#"{"type":"training.log","step":3,"loss":"NaN","evalLoss":1e999}"#,
    );
    job.malformed("[]");
    job.ping();
    job.log(4, 0.7);
    job.completed();
    job.end();
    let mut following = Following::start(snapshot(&studio), "job-bad", None);
    following.run_to_the_end().await;
    assert_eq!(following.malformed, 3);
    assert_eq!(following.metrics.malformed_frames(), 3);
    let steps: Vec<u64> = following.metrics.loss().points().map(|p| p.step).collect();
    assert_eq!(steps, vec![1, 2, 4], "step 3 had no finite loss");
    assert_eq!(following.metrics.progress().step, Some(4));
    assert!(following.metrics.eval_loss().is_empty());
}

#[tokio::test]
async fn the_end_of_a_job_closes_its_stream_and_finishes_the_follower() {
    let studio = studio().await;
    // A failed job: the terminal event ends it even before the `end` frame.
    let job = studio.fake.job_timeline("job-fail");
    job.started();
    job.log(1, 1.0);
    let mut following = Following::start(snapshot(&studio), "job-fail", None);
    following
        .until("step 1", |f| f.step_reached() == Some(1))
        .await;
    job.failed("CUDA out of memory", 2);
    following.run_to_the_end().await;
    assert_eq!(following.end, Some(FollowEnd::JobEnded));
    assert_eq!(
        following.metrics.verdict(),
        Some(&CloudVerdict::Failed {
            error: "CUDA out of memory".into(),
            step: Some(2)
        })
    );
    assert!(
        studio.fake.wait_streams_closed(1).await,
        "the client hung up"
    );

    // An `end` frame alone ends it too.
    let job = studio.fake.job_timeline("job-end");
    job.log(1, 1.0);
    job.end();
    let mut following = Following::start(snapshot(&studio), "job-end", None);
    following.run_to_the_end().await;
    assert_eq!(following.end, Some(FollowEnd::JobEnded));
    assert_eq!(studio.fake.stream_requests("job-end").len(), 1);
}

#[tokio::test]
async fn stopping_the_follower_or_dropping_the_receiver_closes_the_connection() {
    let studio = studio().await;
    let job = studio.fake.job_timeline("job-live");
    job.started();
    let mut following = Following::start(snapshot(&studio), "job-live", None);
    following
        .until("live", |f| f.health == [StreamHealth::Live])
        .await;
    following.follower.take().unwrap().stop();
    assert!(studio.fake.wait_streams_closed(1).await);
    assert!(following.step().await.is_none(), "nothing after a stop");

    let mut following = Following::start(snapshot(&studio), "job-live", None);
    following
        .until("live", |f| f.health == [StreamHealth::Live])
        .await;
    let follower = following.follower.take().unwrap();
    drop(following); // the engine shut down: its receiver is gone
    assert!(studio.fake.wait_streams_closed(2).await);
    tokio::time::timeout(Duration::from_secs(10), follower.finished())
        .await
        .expect("the follower ends when nobody listens");
    assert_eq!(studio.fake.stream_requests("job-live").len(), 2);
}

#[tokio::test]
async fn an_unreachable_cloud_is_reported_once_per_outage() {
    let mut studio = studio().await;
    let job = studio.fake.job_timeline("job-net");
    job.started();
    job.log(1, 1.0);
    let mut following = Following::start(snapshot(&studio), "job-net", None);
    following
        .until("step 1", |f| f.step_reached() == Some(1))
        .await;

    for outage in 1..=2u64 {
        studio.fake.go_offline().await;
        following
            .until("the outage is reported", |f| {
                f.health.len() == 2 * outage as usize
            })
            .await;
        let StreamHealth::Down { error } = following.health.last().unwrap() else {
            panic!("{:?}", following.health)
        };
        assert!(
            matches!(error, StreamError::Cloud(CloudError::Unreachable { .. })),
            "{error}"
        );
        // Retries keep failing (every 20–100 ms) for a while: still one report.
        let quiet = tokio::time::timeout(Duration::from_millis(600), following.step()).await;
        assert!(
            quiet.is_err(),
            "a retry was reported: {:?}",
            following.health
        );
        studio.fake.go_online().await;
        let step = outage + 1;
        job.log(step, 1.0 / step as f64);
        following
            .until("recovery", |f| f.step_reached() == Some(step))
            .await;
        assert_eq!(following.health.last(), Some(&StreamHealth::Live));
    }
    assert_eq!(following.health.len(), 5, "{:?}", following.health);
    assert_eq!(following.delivered_loss_steps(), vec![1, 2, 3]);
}

#[tokio::test]
async fn a_failing_cloud_is_retried_quietly_until_it_answers() {
    let studio = studio().await;
    let path = "/v1/jobs/job-503/events/stream";
    studio.fake.on(
        "GET",
        path,
        Canned::json(503, json!({"error": "upstream is down"})),
    );
    let job = studio.fake.job_timeline("job-503");
    job.started();
    let mut following = Following::start(snapshot(&studio), "job-503", None);
    following.until("down", |f| !f.health.is_empty()).await;
    let StreamHealth::Down {
        error: StreamError::Cloud(CloudError::Api { status, message }),
    } = &following.health[0]
    else {
        panic!("{:?}", following.health)
    };
    assert_eq!((*status, message.as_str()), (503, "upstream is down"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while studio.fake.stream_requests("job-503").len() < 5 {
        assert!(tokio::time::Instant::now() < deadline, "retries stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    studio.fake.off("GET", path);
    following
        .until("live", |f| f.health.last() == Some(&StreamHealth::Live))
        .await;
    assert_eq!(following.health.len(), 2, "{:?}", following.health);
}

#[tokio::test]
async fn a_refused_stream_ends_the_follower_without_retrying() {
    let studio = studio().await;
    let path = "/v1/jobs/job-401/events/stream";
    studio.fake.on(
        "GET",
        path,
        Canned::json(401, json!({"error": "token expired"})),
    );
    let mut following = Following::start(snapshot(&studio), "job-401", None);
    following.run_to_the_end().await;
    assert_eq!(
        following.end,
        Some(FollowEnd::Rejected(CloudError::Api {
            status: 401,
            message: "token expired".into()
        }))
    );
    assert_eq!(studio.fake.stream_requests("job-401").len(), 1);
}

#[tokio::test]
async fn the_scope_written_by_the_child_after_spawn_is_used_and_none_ends_the_follower() {
    // Fresh anonymous project: no state at spawn; the child writes it when the job starts.
    let studio = Builder::new().start().await;
    let snapshot = snapshot(&studio);
    write_json(&studio.state_path(), &state("anon-org", "written-by-child"));
    let job = studio.fake.job_timeline("job-new");
    job.log(1, 1.0);
    job.end();
    let mut following = Following::start(snapshot, "job-new", None);
    following.run_to_the_end().await;
    assert_eq!(following.end, Some(FollowEnd::JobEnded));
    assert_eq!(
        studio.fake.stream_requests("job-new")[0].uri(),
        "/v1/jobs/job-new/events/stream?orgSlug=anon-org&projectSlug=written-by-child"
    );

    // No state at all: nothing to address, no request.
    let studio = Builder::new().start().await;
    let mut following = Following::start(self::snapshot(&studio), "job-x", None);
    following.run_to_the_end().await;
    assert!(
        matches!(&following.end, Some(FollowEnd::Unaddressable(why)) if why.contains("state.json")),
        "{:?}",
        following.end
    );
    assert!(studio.fake.requests().is_empty());
}
