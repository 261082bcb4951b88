//! The dashboard's views, switched with number keys: `1` Runs (the local dev loop) and `2`
//! Jobs (the project's cloud jobs and one job's detail). Each view's state lives here, free of
//! I/O; drawing is in `tui::ui`.

pub mod job_detail;
pub mod jobs;

/// Which view has the screen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    Runs,
    Jobs,
}

impl View {
    /// Every view, in number-key order.
    pub const ALL: [View; 2] = [View::Runs, View::Jobs];

    /// The number key that shows it.
    pub fn key(self) -> char {
        match self {
            View::Runs => '1',
            View::Jobs => '2',
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            View::Runs => "runs",
            View::Jobs => "jobs",
        }
    }

    pub fn from_key(c: char) -> Option<View> {
        View::ALL.into_iter().find(|v| v.key() == c)
    }
}
