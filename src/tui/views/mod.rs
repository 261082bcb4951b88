//! The dashboard's views, switched with number keys: `1` Runs (the local dev loop), `2` Jobs
//! (the project's cloud jobs and one job's detail), `3` Playground (chat with a base model or
//! a job's adapter), `4` Endpoints (the project's deployments and their keys). Each view's
//! state lives here, free of I/O; drawing is in `tui::ui`.

pub mod endpoints;
pub mod job_detail;
pub mod jobs;
pub mod playground;
pub mod poll;
pub mod text_input;

/// Which view has the screen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    Runs,
    Jobs,
    Playground,
    Endpoints,
}

impl View {
    /// Every view, in number-key order.
    pub const ALL: [View; 4] = [View::Runs, View::Jobs, View::Playground, View::Endpoints];

    /// The number key that shows it.
    pub fn key(self) -> char {
        match self {
            View::Runs => '1',
            View::Jobs => '2',
            View::Playground => '3',
            View::Endpoints => '4',
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            View::Runs => "runs",
            View::Jobs => "jobs",
            View::Playground => "playground",
            View::Endpoints => "endpoints",
        }
    }

    pub fn from_key(c: char) -> Option<View> {
        View::ALL.into_iter().find(|v| v.key() == c)
    }
}
