//! Figures of the dashboard's cloud views: the real `arkor tui` in a pseudo-terminal on a
//! project with a cloud scope, its cloud a loopback stand-in that lists 1,000 jobs. A number
//! key pressed → the first frame that shows that view; the first `2`, before the list arrived
//! → the Jobs view's loading state; `j` held over the 1,000 jobs → every press moves the
//! selection. What the terminal shows is rebuilt from the pty's output ([`Screen`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;

use crate::e2e::ms;
use crate::pty::PtyApp;
use crate::screen::Screen;
use crate::stats::Samples;
use crate::training_cloud::LoopbackServer;
use crate::tui::{COLS, ROWS, TuiSetup};

/// Jobs the stand-in lists.
pub const JOBS: usize = 1000;

/// A view a number key shows, and texts only that view draws (all of them on screen: shown).
pub struct ViewKey {
    pub key: u8,
    pub name: &'static str,
    shows: &'static [&'static str],
}

/// The views a round switches between, in the order it presses their keys (it starts on the
/// first). The Endpoints view (`4`) is one more entry, with a text only it draws.
pub const VIEW_KEYS: &[ViewKey] = &[
    ViewKey {
        key: b'2',
        name: "Jobs (1,000 jobs listed)",
        shows: &["cloud jobs · newest first", "1000 jobs · updated"],
    },
    ViewKey {
        key: b'3',
        name: "Playground",
        shows: &["No messages yet"],
    },
    ViewKey {
        key: b'4',
        name: "Endpoints (20 endpoints; the first switch draws its loading state)",
        // The footer's marker: drawn with the view's first frame, loading or listed.
        shows: &["[4 endpoints]", "endpoints ─"],
    },
    ViewKey {
        key: b'1',
        name: "Runs",
        shows: &["no runs yet"],
    },
];

/// Endpoints the stand-in lists.
const ENDPOINTS: usize = 20;

/// The Jobs view before its first list arrived.
const LOADING: &str = "Loading the project's jobs from the cloud";
/// The Runs view once the first build is in (and no run started).
const RUNS_READY: &str = "no runs yet · press s";
/// How a job is named in the list: by its row, newest (row 0) first.
const JOB_NAME: &str = "views-job-";
/// The selected row's marker in the job table.
const SELECTED: &str = "▶ ";

/// Between two view switches: longer than a frame interval, so no press waits for the
/// frame budget of the one before.
const SWITCH_PAUSE: Duration = Duration::from_millis(100);
/// A key not drawn within this is unanswered.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// What a session cannot go on without (the loading state, the list, the selection at the
/// top) fails it after this: only a hang, even on a loaded CI machine.
const HANG: Duration = Duration::from_secs(10);

/// The stand-in cloud: `GET /v1/jobs` for the bench project's scope, the first answer held
/// until [`JobsCloud::release`]; `GET /v1/endpoints` (any time) for the Endpoints view.
struct JobsCloud {
    server: LoopbackServer,
    gate: watch::Sender<bool>,
    lists: Arc<AtomicU64>,
}

impl JobsCloud {
    fn start() -> anyhow::Result<Self> {
        let body = Bytes::from(job_list().to_string());
        let (gate, opened) = watch::channel(false);
        let lists = Arc::new(AtomicU64::new(0));
        let counted = lists.clone();
        let endpoints = Bytes::from(endpoint_list().to_string());
        let app = Router::new()
            .route(
                "/v1/jobs",
                get(move |Query(query): Query<HashMap<String, String>>| {
                    let (body, mut opened, counted) =
                        (body.clone(), opened.clone(), counted.clone());
                    async move { list_jobs(query, body, &mut opened, &counted).await }
                }),
            )
            .route(
                "/v1/endpoints",
                get(move || {
                    let body = endpoints.clone();
                    async move { ([(CONTENT_TYPE, "application/json")], body) }
                }),
            );
        Ok(Self {
            server: LoopbackServer::start(app)?,
            gate,
            lists,
        })
    }

    /// Let the held list (and every later one) through.
    fn release(&self) {
        self.gate.send_replace(true);
    }

    fn lists(&self) -> u64 {
        self.lists.load(Ordering::SeqCst)
    }
}

async fn list_jobs(
    query: HashMap<String, String>,
    body: Bytes,
    opened: &mut watch::Receiver<bool>,
    counted: &AtomicU64,
) -> Response {
    // The scope `fixture::scoped_project` and `fixture::write_home` give: a request without
    // it is a bench set up wrong, and the view says so instead of listing.
    let scope = (query.get("orgSlug"), query.get("projectSlug"));
    if scope != (Some(&"o".to_owned()), Some(&"bench".to_owned())) {
        let error =
            json!({"error": format!("the stand-in lists org o / project bench, not {scope:?}")});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    counted.fetch_add(1, Ordering::SeqCst);
    let _ = opened.wait_for(|open| *open).await;
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

/// `{"jobs": [...]}`, newest first: one a minute, finished 30 s after it started (finished,
/// so no duration ticks and the screen only changes when keys change it).
fn job_list() -> serde_json::Value {
    const STATUSES: [&str; 3] = ["completed", "failed", "cancelled"];
    let jobs: Vec<serde_json::Value> = (0..JOBS)
        .map(|row| {
            let minute = 24 * 60 - 1 - row;
            let at = |second: u32| {
                format!(
                    "2026-05-01T{:02}:{:02}:{second:02}Z",
                    minute / 60,
                    minute % 60
                )
            };
            json!({
                "id": format!("job-{row:04}"),
                "name": format!("{JOB_NAME}{row:04}"),
                "status": STATUSES[row % STATUSES.len()],
                "createdAt": at(0),
                "startedAt": at(0),
                "completedAt": at(30),
                "config": {"maxSteps": 200},
            })
        })
        .collect();
    json!({ "jobs": jobs })
}

/// `{"deployments": [...]}`: each serving one of the listed jobs' final adapter.
fn endpoint_list() -> serde_json::Value {
    let deployments: Vec<serde_json::Value> = (0..ENDPOINTS)
        .map(|row| {
            json!({
                "id": format!("dep-{row:02}"),
                "slug": format!("views-endpoint-{row}"),
                "target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": format!("job-{row:04}")}},
                "orgId": "o",
                "projectId": "bench",
                "authMode": "fixed_api_key",
                "urlFormat": "openai_compat",
                "enabled": true,
                "customDomain": null,
                "createdAt": "2026-05-01T00:00:00Z",
                "updatedAt": "2026-05-01T00:00:00Z",
            })
        })
        .collect();
    json!({ "deployments": deployments })
}

/// The row of the selected job, when the job table is on screen.
fn selected_row(screen: &Screen) -> Option<usize> {
    let line = screen.find_row(&format!("{SELECTED}{JOB_NAME}"))?;
    let (_, rest) = line.split_once(JOB_NAME)?;
    rest.get(..4)?.parse().ok()
}

fn shows(screen: &Screen, view: &ViewKey) -> bool {
    view.shows.iter().all(|text| screen.contains(text))
}

pub struct ScrollFigures {
    pub presses: usize,
    /// Presses per second, as sent.
    pub sent_per_second: f64,
    /// Rows the selection moved: `presses` when no key was dropped.
    pub moved: usize,
    /// Press → first frame whose selection is at or past it.
    pub latency: Samples,
    /// Last press sent → the last row drawn selected.
    pub settled_ms: Option<f64>,
}

pub struct ViewFigures {
    /// The first `2`, the list held back: press → loading state drawn. One per session.
    pub loading: Samples,
    /// The held list let through → 1,000 jobs drawn. One per session.
    pub listed: Samples,
    /// Per entry of [`VIEW_KEYS`]: key pressed → first frame that shows the view.
    pub switches: Vec<Samples>,
    pub unanswered: usize,
    pub scroll: ScrollFigures,
}

/// `sessions` dashboards each measure the loading state and the list; the first also
/// `rounds` rounds of view switches and the scroll.
pub fn measure(setup: &TuiSetup, rounds: usize, sessions: usize) -> anyhow::Result<ViewFigures> {
    let mut loading = Samples::new();
    let mut listed = Samples::new();
    let mut switches = vec![Samples::new(); VIEW_KEYS.len()];
    let mut unanswered = 0;
    let mut scroll = None;
    for session in 0..sessions.max(1) {
        let cloud = JobsCloud::start()?;
        let (mut app, _home) = setup.spawn_with_cloud(Vec::new(), cloud.server.url.clone())?;
        let mut screen = Screen::new(COLS, ROWS);
        let result = (|| {
            let (shown, drawn) = first_jobs(&mut app, &mut screen, &cloud)?;
            loading.push(shown);
            listed.push(drawn);
            if session == 0 {
                unanswered += switch_views(&mut app, &mut screen, rounds, &mut switches)?;
                scroll = Some(hold_j(&mut app, &mut screen)?);
            }
            anyhow::Ok(())
        })();
        TuiSetup::quit(app);
        result?;
    }
    Ok(ViewFigures {
        loading,
        listed,
        switches,
        unanswered,
        scroll: scroll.context("no session scrolled")?,
    })
}

/// Once the first build is in: `2` → the loading state (ms), then the list let through →
/// the list drawn (ms).
fn first_jobs(
    app: &mut PtyApp,
    screen: &mut Screen,
    cloud: &JobsCloud,
) -> anyhow::Result<(f64, f64)> {
    app.wait_screen(screen, Duration::from_secs(30), |s, _| {
        s.contains(RUNS_READY)
    })?
    .context("the Runs view never showed the first build in")?;
    std::thread::sleep(Duration::from_millis(300));
    let sent = app.send(b"2")?;
    let shown = app
        .wait_screen(screen, HANG, |s, _| s.contains(LOADING))?
        .context("the first `2` drew no loading state")?;
    // The list arrives a while after the loading state, as from a distant cloud.
    std::thread::sleep(Duration::from_millis(200));
    if cloud.lists() != 1 {
        bail!(
            "the Jobs view asked for {} lists, expected one",
            cloud.lists()
        );
    }
    if !screen.contains(LOADING) {
        bail!("the loading state went away before the list arrived");
    }
    cloud.release();
    let released = Instant::now();
    let drawn = app
        .wait_screen(screen, HANG, |s, _| shows(s, &VIEW_KEYS[0]))?
        .context("the 1,000 jobs were never drawn")?;
    Ok((
        ms(shown.saturating_duration_since(sent)),
        ms(drawn.saturating_duration_since(released)),
    ))
}

/// `rounds` rounds of the keys of [`VIEW_KEYS`] (the Jobs view is shown at the start); each
/// press's latency goes to its view's samples. Returns the presses not answered.
fn switch_views(
    app: &mut PtyApp,
    screen: &mut Screen,
    rounds: usize,
    switches: &mut [Samples],
) -> anyhow::Result<usize> {
    let mut unanswered = 0;
    for press in 1..=rounds * VIEW_KEYS.len() {
        let index = press % VIEW_KEYS.len();
        let view = &VIEW_KEYS[index];
        std::thread::sleep(SWITCH_PAUSE);
        if shows(screen, view) {
            bail!("{} was on screen before its key", view.name);
        }
        let sent = app.send(&[view.key])?;
        match app.wait_screen(screen, ANSWER_WITHIN, |s, _| shows(s, view))? {
            Some(at) => switches[index].push(ms(at.saturating_duration_since(sent))),
            None => unanswered += 1,
        }
    }
    Ok(unanswered)
}

/// Send `presses` presses of `key`, one every `every` (from another thread while the
/// caller watches the screen); when each was written.
fn press_at_rate(
    mut keys: File,
    key: u8,
    presses: usize,
    every: Duration,
) -> std::io::Result<Vec<Instant>> {
    let start = Instant::now();
    let mut sent = Vec::with_capacity(presses);
    for press in 0..presses {
        let due = start + every.mul_f64(press as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // Stamped before the write, as `PtyApp::send` does.
        sent.push(Instant::now());
        keys.write_all(&[key])?;
    }
    Ok(sent)
}

/// In the Jobs view, from the newest job: `j` 999 times at 1 kHz, the selection followed on
/// screen until it reaches the oldest job or stops moving.
fn hold_j(app: &mut PtyApp, screen: &mut Screen) -> anyhow::Result<ScrollFigures> {
    let jobs = &VIEW_KEYS[0];
    if !shows(screen, jobs) {
        app.send(&[jobs.key])?;
    }
    app.send(b"g")?;
    app.wait_screen(screen, HANG, |s, _| selected_row(s) == Some(0))?
        .context("g did not select the newest job")?;
    std::thread::sleep(Duration::from_millis(300));
    let presses = JOBS - 1;
    let keys = app.key_writer()?;
    let sender =
        std::thread::spawn(move || press_at_rate(keys, b'j', presses, Duration::from_millis(1)));
    // reached[k]: when the selection was first drawn at row k + 1 or further.
    let mut reached: Vec<Instant> = Vec::with_capacity(presses);
    let quiet_for = Duration::from_secs(3);
    let deadline = Instant::now() + Duration::from_secs(60);
    while reached.len() < presses && Instant::now() < deadline {
        let moved = app.wait_screen(screen, quiet_for, |s, at| {
            let row = selected_row(s).unwrap_or(0).min(presses);
            let before = reached.len();
            reached.resize(row.max(before), at);
            reached.len() > before
        })?;
        // No move for `quiet_for` once every press is out: what did not arrive never will.
        if moved.is_none() && sender.is_finished() {
            break;
        }
    }
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the key thread panicked"))??;
    let mut latency = Samples::new();
    for (sent, drawn) in sent.iter().zip(&reached) {
        latency.push(ms(drawn.saturating_duration_since(*sent)));
    }
    let span = match (sent.first(), sent.last()) {
        (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
        _ => 0.0,
    };
    let settled_ms = match (sent.last(), reached.last()) {
        (Some(last), Some(drawn)) if reached.len() == presses => {
            Some(ms(drawn.saturating_duration_since(*last)))
        }
        _ => None,
    };
    Ok(ScrollFigures {
        presses,
        sent_per_second: (presses.saturating_sub(1)) as f64 / span.max(f64::MIN_POSITIVE),
        moved: reached.len(),
        latency,
        settled_ms,
    })
}
