//! The measurement groups, in the order a session runs them. Each group is one `measure`
//! function that reads the shared state ([`Bench`]) and adds its rows and notes to the
//! [`Report`]; `--only` selects groups by name. A new group is a new file here and one line
//! in [`GROUPS`].

mod chat;
mod fanout;
mod faults;
mod flood;
mod floors;
mod growth;
mod idle;
mod ingest;
mod job_events;
mod memory;
mod rebuild;
mod render;
mod signal;
mod stages;
mod start;
mod training;
mod views;

use std::future::Future;
use std::pin::Pin;

use crate::bench::Bench;
use crate::report::Report;
use crate::tui::TuiSetup;

type Measure = for<'a> fn(
    &'a mut Bench,
    &'a mut Report,
) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// A named group of figures.
pub struct Group {
    /// The name `--only` selects it by (several groups may share one).
    pub name: &'static str,
    measure: Measure,
}

macro_rules! group {
    ($name:literal, $measure:path) => {
        Group {
            name: $name,
            measure: |bench, report| Box::pin($measure(bench, report)),
        }
    };
}

/// Every group after the floors, in the order they run (and their rows appear).
pub const GROUPS: &[Group] = &[
    group!("stages", stages::measure),
    group!("rebuild", rebuild::measure),
    group!("signal", signal::measure),
    group!("fanout", fanout::measure),
    group!("idle", idle::headless),
    group!("growth", growth::measure),
    group!("ingest", ingest::measure),
    group!("flood", flood::measure),
    group!("job-events", job_events::measure),
    group!("render", render::measure),
    group!("start", start::measure),
    group!("idle", idle::dashboard),
    group!("training", training::measure),
    group!("chat", chat::measure),
    group!("views", views::measure),
    group!("memory", memory::measure),
    group!("faults", faults::measure),
];

/// Measure the floors, then every group `--only` selects. An error here (a fixture that
/// cannot be written) ends the session; a figure that cannot be measured is a failed row.
pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    // Always measured, whatever `--only` says: other groups print them in their floor column.
    floors::measure(bench, report).await?;
    for group in GROUPS {
        if bench.plan.wants(group.name) {
            (group.measure)(bench, report).await?;
        }
    }
    Ok(())
}

/// Run a blocking dashboard measurement (a pty session) off the async workers.
async fn on_dashboard<T: Send + 'static>(
    bench: &Bench,
    measure: impl FnOnce(&TuiSetup) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let setup = bench.dashboard();
    tokio::task::spawn_blocking(move || measure(&setup)).await?
}
