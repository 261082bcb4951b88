//! A loopback stand-in for the cloud's job event stream (`GET /v1/jobs/{id}/events/stream`),
//! so dashboard figures can include training progress: every job's stream delivers what the
//! [`StreamMode`] says, in the cloud's wire format (`id:`, `event:`, `data:` with a JSON
//! `type`). It runs on a [`LoopbackServer`], which other stand-ins share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use futures::StreamExt;
use tokio::sync::oneshot;

/// What each job's stream sends.
#[derive(Clone, Copy, Debug)]
pub enum StreamMode {
    /// Nothing but a ping every 15 s (a job that is queued or between logs).
    Silent,
    /// Training logs at this many events per second (ten per 10 ms, as TCP bunches them),
    /// without end.
    Paced { events_per_second: u64 },
    /// `steps` training logs at once (a checkpoint every 100), then silence.
    Replay { steps: u64 },
}

const PING_EVERY: Duration = Duration::from_secs(15);

pub struct TrainingCloud {
    pub url: String,
    /// Replayed streams that were sent to their end.
    replays_done: Arc<AtomicU64>,
    _server: LoopbackServer,
}

impl TrainingCloud {
    pub fn start(mode: StreamMode) -> anyhow::Result<Self> {
        let replays_done = Arc::new(AtomicU64::new(0));
        let done = replays_done.clone();
        let app = Router::new().route(
            "/v1/jobs/{id}/events/stream",
            get(move |Path(_id): Path<String>| {
                let done = done.clone();
                async move {
                    (
                        [(CONTENT_TYPE, "text/event-stream")],
                        Body::from_stream(events(mode, done)),
                    )
                }
            }),
        );
        let server = LoopbackServer::start(app)?;
        Ok(Self {
            url: server.url.clone(),
            replays_done,
            _server: server,
        })
    }

    pub fn replays_done(&self) -> u64 {
        self.replays_done.load(Ordering::SeqCst)
    }
}

/// An HTTP server on a loopback port for a stand-in of the cloud, on its own thread and
/// runtime (so a measurement on a blocking thread can use it); it stops when dropped.
pub struct LoopbackServer {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackServer {
    pub fn start(app: Router) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("bench-cloud".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        Ok(Self {
            url,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Open streams never end by themselves; the runtime goes with the thread.
        drop(self.thread.take());
    }
}

fn frame(id: u64, step: u64) -> String {
    let loss = 2.0 / (1.0 + step as f64 / 500.0) + 0.01 * (step as f64).sin();
    format!(
        "id: {id}\nevent: training.log\ndata: {{\"type\":\"training.log\",\"step\":{step},\"loss\":{loss:.4},\"evalLoss\":null,\"learningRate\":0.0002,\"epoch\":{:.3}}}\n\n",
        step as f64 / 1000.0
    )
}

fn checkpoint(id: u64, step: u64) -> String {
    format!(
        "id: {id}\nevent: checkpoint.saved\ndata: {{\"type\":\"checkpoint.saved\",\"step\":{step}}}\n\n"
    )
}

type Chunk = Result<Bytes, std::io::Error>;

fn pings() -> futures::stream::BoxStream<'static, Chunk> {
    futures::stream::unfold(tokio::time::interval(PING_EVERY), |mut every| async move {
        every.tick().await;
        Some((Ok(Bytes::from_static(b"event: ping\ndata: {}\n\n")), every))
    })
    .boxed()
}

fn events(
    mode: StreamMode,
    replays_done: Arc<AtomicU64>,
) -> futures::stream::BoxStream<'static, Chunk> {
    match mode {
        StreamMode::Silent => pings(),
        StreamMode::Paced { events_per_second } => {
            let per_tick = (events_per_second / 100).max(1);
            let mut interval = tokio::time::interval(Duration::from_millis(10));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            futures::stream::unfold((interval, 0u64), move |(mut interval, step)| async move {
                interval.tick().await;
                let text: String = (step + 1..=step + per_tick).map(|s| frame(s, s)).collect();
                Some((Ok(Bytes::from(text)), (interval, step + per_tick)))
            })
            .boxed()
        }
        StreamMode::Replay { steps } => {
            let chunks = (0..steps.div_ceil(1000)).map(move |chunk| {
                let mut text = String::new();
                for step in chunk * 1000 + 1..=((chunk + 1) * 1000).min(steps) {
                    text.push_str(&frame(step * 2, step));
                    if step % 100 == 0 {
                        text.push_str(&checkpoint(step * 2 + 1, step));
                    }
                }
                Ok(Bytes::from(text))
            });
            let end = futures::stream::once(async move {
                replays_done.fetch_add(1, Ordering::SeqCst);
                Ok(Bytes::from_static(b": replayed\n\n"))
            });
            futures::stream::iter(chunks)
                .chain(end)
                .chain(pings())
                .boxed()
        }
    }
}
