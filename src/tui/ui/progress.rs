//! The training columns of the runs table: step (of max steps), loss, eval loss, last
//! checkpoint, steps/s and ETA, read from each run's shared metrics. Shown only once some run
//! has reported a step, so a session without cloud progress keeps its columns for the rest.

use ratatui::text::Span;

use crate::core::events::RunInfo;
use crate::core::training::Progress;
use crate::tui::app::is_live;
use crate::tui::format;
use crate::tui::theme::Theme;
use crate::tui::ui::chart::{format_rate, format_value};
use crate::tui::ui::fit;

const STEP: usize = 12;
const LOSS: usize = 8;
const EVAL: usize = 8;
const CHECKPOINT: usize = 6;
const SPEED: usize = 8;
const ETA: usize = 8;

/// Which training columns fit.
#[derive(Clone, Copy, Default)]
pub(super) struct TrainingColumns {
    step: bool,
    loss: bool,
    eval: bool,
    checkpoint: bool,
    speed: bool,
    eta: bool,
}

impl TrainingColumns {
    /// Every column, in table order: shown or not, its name and width.
    fn columns(&self) -> [(bool, &'static str, usize); 6] {
        [
            (self.step, "STEP", STEP),
            (self.loss, "LOSS", LOSS),
            (self.eval, "EVAL", EVAL),
            (self.checkpoint, "CKPT", CHECKPOINT),
            (self.speed, "STEP/S", SPEED),
            (self.eta, "ETA", ETA),
        ]
    }

    pub fn header(&self) -> String {
        self.columns()
            .iter()
            .filter(|(on, ..)| *on)
            .map(|(_, name, width)| fit(name, *width))
            .collect()
    }

    pub fn cells(&self, run: &RunInfo, theme: Theme) -> Vec<Span<'static>> {
        let mut progress = run.metrics.progress();
        if !is_live(run) {
            // An ended run trains no more, whatever its last rate was.
            progress.steps_per_second = None;
            progress.eta = None;
        }
        let texts = cell_texts(&progress);
        self.columns()
            .iter()
            .zip(texts)
            .filter(|((on, ..), _)| *on)
            .map(|((_, name, width), text)| {
                let style = match *name {
                    "LOSS" => theme.info(),
                    "EVAL" => theme.accent(),
                    _ => ratatui::style::Style::default(),
                };
                Span::styled(fit(&text, *width), style)
            })
            .collect()
    }
}

/// Any run has training progress to show.
pub(super) fn any(runs: &[std::sync::Arc<RunInfo>]) -> bool {
    runs.iter()
        .any(|r| r.metrics.read(|m| m.progress().step.is_some()))
}

/// Choose the training columns in order of importance: step and loss first. `take(width)`
/// grants a column when there is room for it.
pub(super) fn choose(mut take: impl FnMut(usize) -> bool) -> TrainingColumns {
    TrainingColumns {
        step: take(STEP),
        loss: take(LOSS),
        eval: take(EVAL),
        checkpoint: take(CHECKPOINT),
        speed: take(SPEED),
        eta: take(ETA),
    }
}

/// The six cells' texts, `–` for what is not known.
fn cell_texts(progress: &Progress) -> [String; 6] {
    let dash = || "–".to_string();
    let step = match (progress.step, progress.max_steps) {
        (Some(step), Some(max)) => format!("{step}/{max}"),
        (Some(step), None) => step.to_string(),
        _ => dash(),
    };
    [
        step,
        progress.loss.map(format_value).unwrap_or_else(dash),
        progress.eval_loss.map(format_value).unwrap_or_else(dash),
        progress
            .last_checkpoint
            .map(|s| s.to_string())
            .unwrap_or_else(dash),
        progress
            .steps_per_second
            .map(format_rate)
            .unwrap_or_else(dash),
        progress
            .eta
            .map(format::clock_duration)
            .unwrap_or_else(dash),
    ]
}
