//! Follows one cloud job's event stream in a tokio task and hands the caller compact
//! updates over a channel; the caller never waits on the network.
//!
//! - Events travel in batches: the first event of a batch waits at most
//!   [`FollowerOptions::batch_window`], so a stream of 1,000 events per second costs the
//!   receiver about ten wake-ups per second, not a thousand. While the receiver is busy
//!   the follower keeps reading up to [`FollowerOptions::max_pending`] events, then stops
//!   reading (the cloud waits on TCP) instead of growing without bound.
//! - A dropped stream reopens with `Last-Event-ID`; what a reconnect delivers twice is
//!   dropped (see [`ReplayFilter`]). Failed attempts back off (1 s doubling to 60 s,
//!   ±25 %); a stream that delivered events and then closed cleanly reopens after the
//!   initial delay without counting as a failure, and any delivered event resets the count.
//! - The cloud's health is reported on transitions only: [`StreamHealth::Down`] once when
//!   it cannot be reached, however many retries follow, and [`StreamHealth::Live`] when a
//!   stream delivers again.
//! - 401, 403, 410 and 426 never heal by retrying (a fixed token, a gone stream, an SDK
//!   too old), nor does a malformed base URL: the follower ends with
//!   [`FollowEnd::Rejected`]. Everything else (404 included: a new job's stream may not be
//!   visible yet) is retried.
//! - The follower ends by itself when the job ends (`end`, or a terminal event), stops at
//!   once when its [`JobFollower`] is dropped or stopped, and when the receiver is gone.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backoff::{Backoff, BackoffPolicy};
use super::dedupe::ReplayFilter;
use super::event::{Decoded, JobEvent, decode_frame};
use super::sse::{SseFrame, SseParser};
use super::transport::{EventBody, EventTransport, HttpEventTransport};
use crate::core::cloud::client::CloudError;
use crate::core::cloud::snapshot::SpawnSnapshot;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FollowerOptions {
    pub backoff: BackoffPolicy,
    /// The longest an event waits for the rest of its batch.
    pub batch_window: Duration,
    /// Events held while the receiver is busy; past this, reading pauses.
    pub max_pending: usize,
    /// A stream silent this long is taken for dead and reopened (the cloud pings a live
    /// stream every 15 s).
    pub idle_timeout: Duration,
}

impl Default for FollowerOptions {
    fn default() -> Self {
        Self {
            backoff: BackoffPolicy::default(),
            batch_window: Duration::from_millis(100),
            max_pending: 4096,
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// Events in stream order, already deduplicated, with the count of malformed frames
/// skipped since the previous batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventBatch {
    pub events: Vec<JobEvent>,
    pub malformed: u32,
}

impl EventBatch {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.malformed == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StreamHealth {
    /// A stream is open and delivering.
    Live,
    /// The stream cannot be opened (or opened and delivered nothing); retrying.
    Down { error: StreamError },
}

/// Why a stream is down, or why it was reopened.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error("the job's event stream closed without sending anything")]
    Empty,
    #[error("the job's event stream was silent for {} s", .0.as_secs())]
    Silent(Duration),
}

#[derive(Clone, Debug, PartialEq)]
pub enum FollowEnd {
    /// The job is over: the cloud sent `end`, `training.completed` or `training.failed`.
    JobEnded,
    /// The cloud refused the stream in a way retrying cannot fix.
    Rejected(CloudError),
    /// The spawn-time snapshot cannot address the job (no scope or no credentials).
    Unaddressable(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum FollowerUpdate {
    Events(EventBatch),
    Health(StreamHealth),
    /// The last update of this follower.
    Ended(FollowEnd),
}

/// One update, tagged with what the caller chose to know its follower by (a run id), so
/// the followers of all runs can share one channel.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowerMessage<K> {
    pub tag: K,
    pub update: FollowerUpdate,
}

/// The handle of one follower task. Dropping it stops the follower.
#[derive(Debug)]
pub struct JobFollower {
    task: Option<JoinHandle<()>>,
}

impl JobFollower {
    /// Follow `job_id` with the identity and scope captured when its run was spawned.
    /// Returns at once: the snapshot is resolved inside the task, and a job it cannot
    /// address ends the follower with [`FollowEnd::Unaddressable`].
    pub fn spawn<K: Clone + Send + Sync + 'static>(
        snapshot: SpawnSnapshot,
        job_id: impl Into<String>,
        tag: K,
        updates: mpsc::Sender<FollowerMessage<K>>,
        options: FollowerOptions,
    ) -> Self {
        let job_id = job_id.into();
        let task = tokio::spawn(async move {
            match snapshot.resolve() {
                Ok(address) => {
                    let transport = HttpEventTransport::new(address.client, address.scope, job_id);
                    Follower::new(transport, tag, updates, options).run().await;
                }
                Err(e) => {
                    let update = FollowerUpdate::Ended(FollowEnd::Unaddressable(e.to_string()));
                    let _ = updates.send(FollowerMessage { tag, update }).await;
                }
            }
        });
        Self { task: Some(task) }
    }

    /// Follow whatever `transport` delivers (tests, benchmarks, other sources).
    pub fn spawn_with<T: EventTransport, K: Clone + Send + Sync + 'static>(
        transport: T,
        tag: K,
        updates: mpsc::Sender<FollowerMessage<K>>,
        options: FollowerOptions,
    ) -> Self {
        let task = tokio::spawn(Follower::new(transport, tag, updates, options).run());
        Self { task: Some(task) }
    }

    /// The job ended, the cloud refused, or the receiver went away.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stop now; nothing more is sent.
    pub fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Let the follower deliver the job's last events on its own for up to `grace`
    /// (a run that just exited may still have its final frames in flight), then stop it.
    pub fn linger(mut self, grace: Duration) {
        if let Some(mut task) = self.task.take() {
            tokio::spawn(async move {
                if tokio::time::timeout(grace, &mut task).await.is_err() {
                    task.abort();
                }
            });
        }
    }

    /// Wait until the follower ends by itself.
    pub async fn finished(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for JobFollower {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Whether retrying cannot help.
fn is_permanent(error: &CloudError) -> bool {
    match error {
        CloudError::Api { status, .. } => matches!(status, 401 | 403 | 410 | 426),
        CloudError::InvalidUrl { .. } => true,
        CloudError::Unreachable { .. } | CloudError::Decode { .. } => false,
    }
}

/// How one open stream ended.
enum StreamEnd {
    JobOver,
    ReceiverGone,
    /// Closed cleanly or broke; `delivered` = it carried at least one decodable event,
    /// `any_frame` = it carried any frame at all (the cloud was reachable).
    Closed {
        delivered: bool,
        any_frame: bool,
        clean: bool,
        error: Option<StreamError>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reported {
    Live,
    Down,
}

/// Updates waiting for the receiver, in order: closed messages first, then the open batch.
#[derive(Default)]
struct Outbox {
    queue: VecDeque<FollowerUpdate>,
    batch: EventBatch,
    batch_opened: Option<Instant>,
    queued_events: usize,
}

impl Outbox {
    fn push_event(&mut self, event: JobEvent) {
        self.batch_opened.get_or_insert_with(Instant::now);
        self.batch.events.push(event);
    }

    fn count_malformed(&mut self) {
        self.batch_opened.get_or_insert_with(Instant::now);
        self.batch.malformed = self.batch.malformed.saturating_add(1);
    }

    /// Queue a message after everything already pending.
    fn push_message(&mut self, update: FollowerUpdate) {
        self.close_batch();
        self.queue.push_back(update);
    }

    fn close_batch(&mut self) {
        self.batch_opened = None;
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.queued_events += batch.events.len();
            self.queue.push_back(FollowerUpdate::Events(batch));
        }
    }

    fn pending_events(&self) -> usize {
        self.queued_events + self.batch.events.len()
    }

    /// When the next message should go out (`None`: nothing pending).
    fn due(&self, window: Duration) -> Option<Instant> {
        if !self.queue.is_empty() {
            return Some(Instant::now());
        }
        self.batch_opened.map(|opened| opened + window)
    }

    fn take_next(&mut self) -> Option<FollowerUpdate> {
        if self.queue.is_empty() {
            self.close_batch();
        }
        let next = self.queue.pop_front()?;
        if let FollowerUpdate::Events(batch) = &next {
            self.queued_events -= batch.events.len();
        }
        Some(next)
    }
}

struct Follower<T, K> {
    transport: T,
    tag: K,
    tx: mpsc::Sender<FollowerMessage<K>>,
    options: FollowerOptions,
    backoff: Backoff,
    filter: ReplayFilter,
    last_event_id: Option<String>,
    reported: Option<Reported>,
    outbox: Outbox,
}

impl<T: EventTransport, K: Clone + Send + Sync + 'static> Follower<T, K> {
    fn new(
        transport: T,
        tag: K,
        tx: mpsc::Sender<FollowerMessage<K>>,
        options: FollowerOptions,
    ) -> Self {
        Self {
            transport,
            tag,
            tx,
            backoff: Backoff::new(options.backoff),
            options,
            filter: ReplayFilter::new(),
            last_event_id: None,
            reported: None,
            outbox: Outbox::default(),
        }
    }

    async fn run(mut self) {
        loop {
            let opened = tokio::select! {
                biased;
                _ = self.tx.closed() => return,
                opened = self.transport.open(self.last_event_id.as_deref()) => opened,
            };
            let wait = match opened {
                Err(error) if is_permanent(&error) => {
                    self.outbox
                        .push_message(FollowerUpdate::Ended(FollowEnd::Rejected(error)));
                    self.flush_all().await;
                    return;
                }
                Err(error) => {
                    self.report(Reported::Down, Some(error.into()));
                    self.backoff.next_delay()
                }
                Ok(body) => match self.read(body).await {
                    StreamEnd::JobOver => {
                        self.outbox
                            .push_message(FollowerUpdate::Ended(FollowEnd::JobEnded));
                        self.flush_all().await;
                        return;
                    }
                    StreamEnd::ReceiverGone => return,
                    StreamEnd::Closed {
                        delivered: true,
                        clean: true,
                        ..
                    } => self.backoff.initial(),
                    StreamEnd::Closed {
                        any_frame, error, ..
                    } => {
                        if !any_frame {
                            self.report(Reported::Down, Some(error.unwrap_or(StreamError::Empty)));
                        }
                        self.backoff.next_delay()
                    }
                },
            };
            if !self.flush_all().await {
                return;
            }
            tokio::select! {
                biased;
                _ = self.tx.closed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Queue a health transition; repeats of the current state are not reported.
    fn report(&mut self, state: Reported, error: Option<StreamError>) {
        if self.reported == Some(state) {
            return;
        }
        self.reported = Some(state);
        let health = match (state, error) {
            (Reported::Down, Some(error)) => StreamHealth::Down { error },
            _ => StreamHealth::Live,
        };
        self.outbox.push_message(FollowerUpdate::Health(health));
    }

    /// Deliver everything pending; `false` when the receiver is gone.
    async fn flush_all(&mut self) -> bool {
        while let Some(update) = self.outbox.take_next() {
            let message = FollowerMessage {
                tag: self.tag.clone(),
                update,
            };
            if self.tx.send(message).await.is_err() {
                return false;
            }
        }
        true
    }

    async fn read(&mut self, mut body: EventBody) -> StreamEnd {
        let mut parser = SseParser::resuming(self.last_event_id.take());
        let mut frames: Vec<SseFrame> = Vec::new();
        let mut delivered = false;
        let mut any_frame = false;
        // Timers are re-armed lazily so a fast stream does not touch the timer wheel per
        // chunk: the idle timer checks on expiry whether data came meanwhile, and the
        // batch timer is set once per batch.
        let idle = tokio::time::sleep(self.options.idle_timeout);
        tokio::pin!(idle);
        let mut last_activity = Instant::now();
        let batch_timer = tokio::time::sleep_until(last_activity);
        tokio::pin!(batch_timer);
        let mut armed_for: Option<Instant> = None;
        loop {
            let due = self.outbox.due(self.options.batch_window);
            let now = Instant::now();
            let send_now = due.is_some_and(|d| d <= now);
            let batch_deadline = due.filter(|d| *d > now);
            if let Some(deadline) = batch_deadline
                && armed_for != Some(deadline)
            {
                batch_timer.as_mut().reset(deadline);
                armed_for = Some(deadline);
            }
            let can_read = self.outbox.pending_events() < self.options.max_pending;
            let wake = tokio::select! {
                biased;
                _ = self.tx.closed() => Wake::ReceiverGone,
                permit = self.tx.reserve(), if send_now => match permit {
                    Ok(permit) => {
                        if let Some(update) = self.outbox.take_next() {
                            permit.send(FollowerMessage { tag: self.tag.clone(), update });
                        }
                        Wake::Sent
                    }
                    Err(_) => Wake::ReceiverGone,
                },
                _ = &mut batch_timer, if batch_deadline.is_some() => Wake::BatchDue,
                chunk = body.next(), if can_read => Wake::Chunk(chunk),
                _ = &mut idle, if can_read => Wake::Idle,
            };
            let bytes = match wake {
                Wake::ReceiverGone => return StreamEnd::ReceiverGone,
                Wake::Sent => {
                    if !can_read {
                        // Reading was paused for the receiver, not by the cloud.
                        last_activity = Instant::now();
                    }
                    continue;
                }
                Wake::BatchDue => continue,
                Wake::Idle => {
                    let deadline = last_activity + self.options.idle_timeout;
                    if deadline > Instant::now() {
                        idle.as_mut().reset(deadline);
                        continue;
                    }
                    let error = StreamError::Silent(self.options.idle_timeout);
                    return self.closed(&parser, delivered, any_frame, Some(error));
                }
                Wake::Chunk(None) => return self.closed(&parser, delivered, any_frame, None),
                Wake::Chunk(Some(Err(error))) => {
                    return self.closed(&parser, delivered, any_frame, Some(error.into()));
                }
                Wake::Chunk(Some(Ok(bytes))) => bytes,
            };
            last_activity = Instant::now();
            parser.feed(&bytes, &mut frames);
            let received = SystemTime::now();
            for frame in frames.drain(..) {
                if !any_frame {
                    any_frame = true;
                    self.report(Reported::Live, None);
                }
                match self.on_frame(&frame, received) {
                    FrameOutcome::JobOver => return StreamEnd::JobOver,
                    FrameOutcome::Delivered => {
                        delivered = true;
                        self.backoff.reset();
                    }
                    FrameOutcome::Nothing => {}
                }
            }
            self.last_event_id = parser.last_event_id().map(str::to_owned);
        }
    }

    fn closed(
        &mut self,
        parser: &SseParser,
        delivered: bool,
        any_frame: bool,
        error: Option<StreamError>,
    ) -> StreamEnd {
        self.last_event_id = parser.last_event_id().map(str::to_owned);
        StreamEnd::Closed {
            delivered,
            any_frame,
            clean: error.is_none(),
            error,
        }
    }

    fn on_frame(&mut self, frame: &SseFrame, received: SystemTime) -> FrameOutcome {
        if let Some(id) = &frame.id
            && self.filter.repeated_id(id)
        {
            return FrameOutcome::Delivered; // delivered before this reconnect
        }
        match decode_frame(frame, received) {
            Decoded::Event(event) => {
                let terminal = event.is_terminal();
                if self.filter.admit(&event) {
                    self.outbox.push_event(event);
                }
                if terminal {
                    FrameOutcome::JobOver
                } else {
                    FrameOutcome::Delivered
                }
            }
            Decoded::End => FrameOutcome::JobOver,
            Decoded::Unknown { kind } => {
                tracing::debug!("job event stream: skipped an event of unknown type {kind:?}");
                FrameOutcome::Delivered
            }
            Decoded::Ping => FrameOutcome::Nothing,
            Decoded::Malformed { reason } => {
                tracing::debug!("job event stream: skipped a malformed frame: {reason}");
                self.outbox.count_malformed();
                FrameOutcome::Nothing
            }
        }
    }
}

/// What woke the read loop.
enum Wake {
    ReceiverGone,
    Sent,
    BatchDue,
    Chunk(Option<Result<bytes::Bytes, CloudError>>),
    Idle,
}

enum FrameOutcome {
    JobOver,
    /// A well-formed event: the stream is productive.
    Delivered,
    /// A ping or a malformed frame: proof of a connection, not of progress.
    Nothing,
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use futures::stream;

    use super::*;
    use crate::core::cloud::job_events::event::JobEventKind;

    /// One scripted connection attempt.
    enum Attempt {
        Fail(CloudError),
        /// These chunks, then a clean close (`hang: false`) or silence (`hang: true`).
        Stream {
            chunks: Vec<Result<Bytes, CloudError>>,
            hang: bool,
        },
    }

    #[derive(Default)]
    struct Probe {
        /// When each attempt was made and with which `Last-Event-ID`.
        opens: Mutex<Vec<(Instant, Option<String>)>>,
        chunks_pulled: AtomicUsize,
        body_dropped: AtomicBool,
    }

    struct Scripted {
        attempts: VecDeque<Attempt>,
        probe: Arc<Probe>,
    }

    struct DropFlag(Arc<Probe>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.body_dropped.store(true, Ordering::SeqCst);
        }
    }

    impl EventTransport for Scripted {
        async fn open(&mut self, last_event_id: Option<&str>) -> Result<EventBody, CloudError> {
            self.probe
                .opens
                .lock()
                .unwrap()
                .push((Instant::now(), last_event_id.map(str::to_owned)));
            let attempt = self.attempts.pop_front().unwrap_or(Attempt::Stream {
                chunks: Vec::new(),
                hang: true,
            });
            match attempt {
                Attempt::Fail(error) => Err(error),
                Attempt::Stream { chunks, hang } => {
                    let probe = self.probe.clone();
                    let guard = DropFlag(self.probe.clone());
                    let body = stream::iter(chunks).inspect(move |_| {
                        probe.chunks_pulled.fetch_add(1, Ordering::SeqCst);
                    });
                    let tail = if hang {
                        stream::pending().boxed()
                    } else {
                        stream::empty().boxed()
                    };
                    Ok(body
                        .chain(tail)
                        .map(move |chunk| {
                            let _keep = &guard;
                            chunk
                        })
                        .boxed())
                }
            }
        }
    }

    fn unreachable() -> CloudError {
        CloudError::Unreachable {
            base: "http://127.0.0.1:9".into(),
            reason: "Connection refused".into(),
        }
    }

    fn log_frame(id: &str, step: u64) -> String {
        format!(
            "id: {id}\nevent: training.log\ndata: {{\"type\":\"training.log\",\"step\":{step},\"loss\":{}}}\n\n",
            1.0 / (step as f64 + 1.0)
        )
    }

    fn chunk(text: impl Into<String>) -> Result<Bytes, CloudError> {
        Ok(Bytes::from(text.into()))
    }

    fn stream_of(frames: &[String], hang: bool) -> Attempt {
        Attempt::Stream {
            chunks: frames.iter().map(|f| chunk(f.clone())).collect(),
            hang,
        }
    }

    fn start(
        attempts: Vec<Attempt>,
        options: FollowerOptions,
        capacity: usize,
    ) -> (
        JobFollower,
        mpsc::Receiver<FollowerMessage<u32>>,
        Arc<Probe>,
    ) {
        let probe = Arc::new(Probe::default());
        let transport = Scripted {
            attempts: attempts.into(),
            probe: probe.clone(),
        };
        let (tx, rx) = mpsc::channel(capacity);
        let follower = JobFollower::spawn_with(transport, 7u32, tx, options);
        (follower, rx, probe)
    }

    async fn next(rx: &mut mpsc::Receiver<FollowerMessage<u32>>) -> FollowerUpdate {
        let message = tokio::time::timeout(Duration::from_secs(3600), rx.recv())
            .await
            .expect("an update within the hour")
            .expect("the follower is still sending");
        assert_eq!(message.tag, 7);
        message.update
    }

    fn steps(update: &FollowerUpdate) -> Vec<u64> {
        match update {
            FollowerUpdate::Events(batch) => {
                batch.events.iter().filter_map(JobEvent::step).collect()
            }
            other => panic!("expected events, got {other:?}"),
        }
    }

    /// The `Last-Event-ID` of each attempt.
    fn resumed_after(probe: &Probe) -> Vec<Option<String>> {
        let opens = probe.opens.lock().unwrap();
        opens.iter().map(|(_, id)| id.clone()).collect()
    }

    fn gaps(probe: &Probe) -> Vec<Duration> {
        let opens = probe.opens.lock().unwrap();
        opens.windows(2).map(|w| w[1].0 - w[0].0).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_to_the_cap_and_are_reported_once() {
        let mut attempts: Vec<Attempt> = (0..10).map(|_| Attempt::Fail(unreachable())).collect();
        attempts.push(stream_of(&[log_frame("j-1", 1)], true));
        let (_follower, mut rx, probe) = start(attempts, FollowerOptions::default(), 16);

        assert!(matches!(
            next(&mut rx).await,
            FollowerUpdate::Health(StreamHealth::Down {
                error: StreamError::Cloud(CloudError::Unreachable { .. })
            })
        ));
        assert_eq!(
            next(&mut rx).await,
            FollowerUpdate::Health(StreamHealth::Live)
        );
        assert_eq!(steps(&next(&mut rx).await), vec![1]);

        let gaps = gaps(&probe);
        assert_eq!(gaps.len(), 10, "ten failures, then the stream");
        for (attempt, gap) in gaps.iter().enumerate() {
            let exp = Duration::from_secs(1 << attempt.min(6)).min(Duration::from_secs(60));
            assert!(
                *gap >= exp.mul_f64(0.75) && *gap <= exp.mul_f64(1.25).min(Duration::from_secs(60)),
                "retry {attempt} waited {gap:?} (base {exp:?})"
            );
        }
        assert!(rx.try_recv().is_err(), "no second Down for the retries");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_delivered_resets_the_backoff_and_a_new_outage_is_reported_again() {
        let attempts = vec![
            Attempt::Fail(unreachable()),
            Attempt::Fail(unreachable()),
            Attempt::Fail(unreachable()),
            Attempt::Fail(unreachable()),
            stream_of(&[log_frame("j-1", 1)], false),
            Attempt::Fail(unreachable()),
            stream_of(&[log_frame("j-2", 2)], true),
        ];
        let (_follower, mut rx, probe) = start(attempts, FollowerOptions::default(), 16);
        let mut updates = Vec::new();
        for _ in 0..6 {
            updates.push(next(&mut rx).await);
        }
        let kinds: Vec<&str> = updates
            .iter()
            .map(|u| match u {
                FollowerUpdate::Health(StreamHealth::Live) => "live",
                FollowerUpdate::Health(StreamHealth::Down { .. }) => "down",
                FollowerUpdate::Events(_) => "events",
                FollowerUpdate::Ended(_) => "ended",
            })
            .collect();
        assert_eq!(kinds, ["down", "live", "events", "down", "live", "events"]);
        let gaps = gaps(&probe);
        // After the clean close of a delivering stream: exactly the initial delay.
        assert_eq!(gaps[4], Duration::from_secs(1));
        // The failure after it starts from 1 s again, not from 16 s.
        assert!(gaps[5] <= Duration::from_millis(1250), "{:?}", gaps[5]);
        let resumed = resumed_after(&probe);
        assert_eq!(resumed[5], Some("j-1".into()));
        assert_eq!(resumed[6], Some("j-1".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconnect_resumes_after_the_last_id_and_never_repeats_a_step() {
        let first: Vec<String> = (1..=3).map(|s| log_frame(&format!("j-{s}"), s)).collect();
        let mut broken = Attempt::Stream {
            chunks: first.iter().map(|f| chunk(f.clone())).collect(),
            hang: false,
        };
        if let Attempt::Stream { chunks, .. } = &mut broken {
            chunks.push(chunk("id: j-4\ndata: {\"type\":\"training.lo")); // cut mid-frame
            chunks.push(Err(unreachable()));
        }
        // A cloud that ignores Last-Event-ID and replays everything.
        let replay: Vec<String> = (1..=5).map(|s| log_frame(&format!("j-{s}"), s)).collect();
        // Then one with fresh ids for old steps (a proxy renumbering), and one new step.
        let renumbered: Vec<String> = (1..=6).map(|s| log_frame(&format!("p-{s}"), s)).collect();
        let attempts = vec![
            broken,
            stream_of(&replay, false),
            stream_of(&renumbered, true),
        ];
        let (_follower, mut rx, probe) = start(attempts, FollowerOptions::default(), 16);
        let mut seen = Vec::new();
        while seen.len() < 6 {
            match next(&mut rx).await {
                update @ FollowerUpdate::Events(_) => seen.extend(steps(&update)),
                FollowerUpdate::Health(StreamHealth::Live) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, vec![1, 2, 3, 4, 5, 6]);
        let resumed = resumed_after(&probe);
        assert_eq!(
            resumed,
            vec![None, Some("j-3".into()), Some("j-5".into())],
            "the id of the cut frame is never claimed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_arrives_as_one_batch_within_the_window() {
        let burst: String = (1..=1000)
            .map(|s| log_frame(&format!("j-{s}"), s))
            .collect();
        let options = FollowerOptions::default();
        let (_follower, mut rx, _probe) = start(vec![stream_of(&[burst], true)], options, 16);
        let t0 = Instant::now();
        assert_eq!(
            next(&mut rx).await,
            FollowerUpdate::Health(StreamHealth::Live)
        );
        let batch = next(&mut rx).await;
        assert_eq!(steps(&batch), (1..=1000).collect::<Vec<_>>());
        let waited = Instant::now() - t0;
        assert!(waited <= options.batch_window, "{waited:?}");
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_event_waits_no_longer_than_the_window() {
        let attempts = vec![Attempt::Stream {
            chunks: vec![chunk(log_frame("j-1", 1))],
            hang: true,
        }];
        let options = FollowerOptions {
            batch_window: Duration::from_millis(250),
            ..FollowerOptions::default()
        };
        let (_follower, mut rx, _probe) = start(attempts, options, 16);
        let t0 = Instant::now();
        next(&mut rx).await; // Live goes out at once
        assert!(Instant::now() - t0 < Duration::from_millis(1));
        assert_eq!(steps(&next(&mut rx).await), vec![1]);
        assert_eq!(Instant::now() - t0, Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn malformed_frames_are_skipped_and_counted() {
        let frames = vec![
            log_frame("j-1", 1),
            "id: j-2\nevent: training.log\ndata: {not json\n\n".to_owned(),
            ": a comment\n\nevent: ping\ndata: {}\n\n".to_owned(),
            "id: j-3\ndata: {\"type\":\"training.log\",\"step\":\"x\"}\n\n".to_owned(),
            "id: j-4\ndata: {\"type\":\"future.thing\"}\n\n".to_owned(),
            log_frame("j-5", 2),
        ];
        let (_follower, mut rx, _probe) = start(
            vec![stream_of(&frames, true)],
            FollowerOptions::default(),
            16,
        );
        next(&mut rx).await;
        let FollowerUpdate::Events(batch) = next(&mut rx).await else {
            panic!()
        };
        assert_eq!(batch.malformed, 2);
        assert_eq!(
            batch
                .events
                .iter()
                .filter_map(JobEvent::step)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_frame_or_a_terminal_event_finishes_the_follower() {
        for last in [
            "event: end\ndata: {}\n\n",
            "id: j-9\nevent: training.failed\ndata: {\"type\":\"training.failed\",\"error\":\"OOM\",\"step\":1}\n\n",
        ] {
            let frames = vec![log_frame("j-1", 1), last.to_owned()];
            let (follower, mut rx, probe) = start(
                vec![stream_of(&frames, true)],
                FollowerOptions::default(),
                16,
            );
            next(&mut rx).await;
            let events = next(&mut rx).await;
            assert_eq!(
                next(&mut rx).await,
                FollowerUpdate::Ended(FollowEnd::JobEnded)
            );
            tokio::time::timeout(Duration::from_millis(1), follower.finished())
                .await
                .expect("the follower ends by itself");
            assert!(rx.recv().await.is_none(), "nothing after Ended");
            assert_eq!(probe.opens.lock().unwrap().len(), 1);
            assert!(
                probe.body_dropped.load(Ordering::SeqCst),
                "the stream is closed"
            );
            if last.contains("failed") {
                let FollowerUpdate::Events(batch) = events else {
                    panic!()
                };
                assert_eq!(
                    batch.events[1].kind,
                    JobEventKind::Failed {
                        error: "OOM".into(),
                        step: Some(1)
                    }
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_that_retrying_cannot_fix_ends_at_once() {
        for status in [401, 403, 410, 426] {
            let error = CloudError::Api {
                status,
                message: "no".into(),
            };
            let (follower, mut rx, probe) = start(
                vec![Attempt::Fail(error.clone())],
                FollowerOptions::default(),
                16,
            );
            assert_eq!(
                next(&mut rx).await,
                FollowerUpdate::Ended(FollowEnd::Rejected(error))
            );
            follower.finished().await;
            assert_eq!(probe.opens.lock().unwrap().len(), 1, "{status}: no retry");
        }
        // 404 and 5xx are retried.
        let attempts = vec![
            Attempt::Fail(CloudError::Api {
                status: 404,
                message: "no such job yet".into(),
            }),
            Attempt::Fail(CloudError::Api {
                status: 503,
                message: "busy".into(),
            }),
            stream_of(&[log_frame("j-1", 1)], true),
        ];
        let (_follower, mut rx, probe) = start(attempts, FollowerOptions::default(), 16);
        assert!(matches!(
            next(&mut rx).await,
            FollowerUpdate::Health(StreamHealth::Down { .. })
        ));
        assert_eq!(
            next(&mut rx).await,
            FollowerUpdate::Health(StreamHealth::Live)
        );
        assert_eq!(probe.opens.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_stream_counts_as_down_but_pings_do_not() {
        let attempts = vec![
            Attempt::Stream {
                chunks: Vec::new(),
                hang: false,
            },
            Attempt::Stream {
                chunks: Vec::new(),
                hang: false,
            },
            stream_of(&["event: ping\ndata: {}\n\n".to_owned()], false),
            stream_of(&[log_frame("j-1", 1)], true),
        ];
        let (_follower, mut rx, probe) = start(attempts, FollowerOptions::default(), 16);
        assert_eq!(
            next(&mut rx).await,
            FollowerUpdate::Health(StreamHealth::Down {
                error: StreamError::Empty
            })
        );
        assert_eq!(
            next(&mut rx).await,
            FollowerUpdate::Health(StreamHealth::Live)
        );
        assert_eq!(steps(&next(&mut rx).await), vec![1]);
        // Pings prove a connection but not progress: the backoff kept growing.
        let gaps = gaps(&probe);
        assert!(gaps[2] >= Duration::from_secs(3), "{gaps:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_is_reopened() {
        let options = FollowerOptions::default();
        let (_follower, mut rx, probe) =
            start(vec![stream_of(&[log_frame("j-1", 1)], true)], options, 16);
        next(&mut rx).await;
        next(&mut rx).await;
        let t0 = probe.opens.lock().unwrap()[0].0;
        while probe.opens.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let gap = probe.opens.lock().unwrap()[1].0 - t0;
        assert!(
            gap >= options.idle_timeout && gap <= options.idle_timeout + Duration::from_secs(3),
            "{gap:?}"
        );
        assert_eq!(probe.opens.lock().unwrap()[1].1.as_deref(), Some("j-1"));
        assert!(rx.try_recv().is_err(), "a silent stream is not an outage");
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_receiver_or_the_handle_stops_the_follower_promptly() {
        // Backing off for a minute: the dropped receiver still ends it at once.
        let attempts: Vec<Attempt> = (0..20).map(|_| Attempt::Fail(unreachable())).collect();
        let (follower, mut rx, _probe) = start(attempts, FollowerOptions::default(), 16);
        next(&mut rx).await;
        tokio::time::sleep(Duration::from_secs(100)).await;
        drop(rx);
        tokio::time::timeout(Duration::from_millis(1), follower.finished())
            .await
            .expect("ends without waiting out the backoff");

        // Mid-stream: dropping the handle closes the stream.
        let (follower, mut rx, probe) = start(
            vec![stream_of(&[log_frame("j-1", 1)], true)],
            FollowerOptions::default(),
            16,
        );
        next(&mut rx).await;
        drop(follower);
        tokio::task::yield_now().await;
        assert!(probe.body_dropped.load(Ordering::SeqCst));
        assert!(rx.recv().await.is_none());

        // `linger` lets a stream that is about to end finish, and stops one that is not.
        let frames = vec![log_frame("j-1", 1), "event: end\ndata: {}\n\n".to_owned()];
        let (follower, mut rx, _probe) = start(
            vec![stream_of(&frames, true)],
            FollowerOptions::default(),
            16,
        );
        follower.linger(Duration::from_secs(5));
        let mut last = None;
        while let Some(message) = rx.recv().await {
            last = Some(message.update);
        }
        assert_eq!(last, Some(FollowerUpdate::Ended(FollowEnd::JobEnded)));
        let (follower, mut rx, probe) = start(
            vec![stream_of(&[log_frame("j-1", 1)], true)],
            FollowerOptions::default(),
            16,
        );
        follower.linger(Duration::from_secs(5));
        while rx.recv().await.is_some() {}
        assert!(probe.body_dropped.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_receiver_pauses_reading_instead_of_buffering_without_bound() {
        let chunks: Vec<Result<Bytes, CloudError>> = (1..=10_000u64)
            .map(|s| chunk(log_frame(&format!("j-{s}"), s)))
            .collect();
        let options = FollowerOptions {
            max_pending: 100,
            ..FollowerOptions::default()
        };
        let (_follower, mut rx, probe) =
            start(vec![Attempt::Stream { chunks, hang: true }], options, 1);
        // Nobody reads for a while.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let pulled = probe.chunks_pulled.load(Ordering::SeqCst);
        assert!(
            pulled <= 2 * 100 + 2,
            "read {pulled} chunks while nobody listened"
        );
        // Once the receiver reads, everything arrives, in order, once.
        let mut seen = Vec::new();
        while seen.len() < 10_000 {
            match next(&mut rx).await {
                update @ FollowerUpdate::Events(_) => seen.extend(steps(&update)),
                FollowerUpdate::Health(_) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, (1..=10_000).collect::<Vec<_>>());
    }
}
