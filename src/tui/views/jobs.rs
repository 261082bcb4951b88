//! The Jobs view's state: the project's cloud jobs, newest first, refreshed every
//! [`crate::tui::views::poll::REFRESH_INTERVAL`] while the view is shown (as the Studio polls) and on `r`; the
//! selection follows a job across refreshes; the open job's detail.

use std::time::{Duration, SystemTime};

use crate::core::cloud::jobs::CloudJob;
use crate::tui::cloud_tasks::{CloudProblem, CloudRequest};
use crate::tui::views::job_detail::JobDetail;
use crate::tui::views::poll::Poll;

#[derive(Debug, Default)]
pub struct JobsView {
    /// Newest first, as the last answer listed them.
    pub jobs: Vec<CloudJob>,
    /// Index into `jobs`.
    pub selected: usize,
    /// Where the list's fetching stands.
    pub poll: Poll,
    /// The job opened with Enter.
    pub detail: Option<JobDetail>,
    /// First row drawn (kept by the table between frames).
    pub offset: usize,
}

impl JobsView {
    /// A fetch to start now, if one is due at `now`.
    pub fn refresh_if_due(&mut self, now: SystemTime) -> Option<CloudRequest> {
        let generation = self.poll.start_if_due(now)?;
        Some(CloudRequest::ListJobs { generation })
    }

    /// A fetch now (`r`), unless one is under way.
    pub fn refresh(&mut self) -> Option<CloudRequest> {
        let generation = self.poll.start()?;
        Some(CloudRequest::ListJobs { generation })
    }

    /// The fetch asked for while the last was under way, now that it answered.
    pub fn queued_refresh(&mut self) -> Option<CloudRequest> {
        let generation = self.poll.take_queued()?;
        Some(CloudRequest::ListJobs { generation })
    }

    /// How long until the next fetch is due (the loop wakes then), while none is under way.
    pub fn next_refresh(&self, now: SystemTime) -> Option<Duration> {
        self.poll.next_due(now)
    }

    /// Fold in a fetch's answer; an answer to an older request is dropped.
    pub fn answered(
        &mut self,
        generation: u64,
        result: Result<Vec<CloudJob>, CloudProblem>,
        now: SystemTime,
    ) {
        let (jobs, problem) = match result {
            Ok(jobs) => (Some(jobs), None),
            Err(problem) => (None, Some(problem)),
        };
        if !self.poll.answered(generation, problem, now) {
            return;
        }
        let Some(jobs) = jobs else {
            // A missing or stale scope means the old list is not this project's any more.
            if self.poll.scope_lost() {
                self.jobs.clear();
                self.selected = 0;
            }
            return;
        };
        let selected_id = self.selected_job().map(|j| j.id.clone());
        self.jobs = jobs;
        self.selected = selected_id
            .and_then(|id| self.jobs.iter().position(|j| j.id == id))
            .unwrap_or(0);
        if let Some(detail) = &mut self.detail
            && let Some(fresh) = self.jobs.iter().find(|j| j.id == detail.job.id)
        {
            detail.job = fresh.clone();
        }
    }

    pub fn selected_job(&self) -> Option<&CloudJob> {
        self.jobs.get(self.selected)
    }

    /// Move the selection by `delta` rows, clamped to the list.
    pub fn select_by(&mut self, delta: isize) {
        let last = self.jobs.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    pub fn select_first(&mut self) {
        self.selected = 0;
    }

    pub fn select_last(&mut self) {
        self.selected = self.jobs.len().saturating_sub(1);
    }

    /// Open the selected job's detail; the request replays its event stream.
    pub fn open_selected(&mut self) -> Option<CloudRequest> {
        let job = self.selected_job()?.clone();
        let job_id = job.id.clone();
        self.detail = Some(JobDetail::new(job));
        Some(CloudRequest::FollowJob { job_id })
    }

    /// Close the detail; the request stops its stream.
    pub fn close_detail(&mut self) -> Option<CloudRequest> {
        self.detail.take().map(|_| CloudRequest::StopFollowing)
    }

    /// The job `c` would cancel: the open one, else the selected one.
    pub fn focused_job(&self) -> Option<&CloudJob> {
        match &self.detail {
            Some(detail) => Some(&detail.job),
            None => self.selected_job(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::core::cloud::jobs::JobStatus;

    fn job(id: &str) -> CloudJob {
        CloudJob {
            id: id.into(),
            name: format!("name-{id}"),
            status: JobStatus::Running,
            created_at: None,
            started_at: None,
            completed_at: None,
            error: None,
            config: Value::Null,
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn fetches_are_list_requests_one_at_a_time() {
        let mut view = JobsView::default();
        let first = view.refresh_if_due(at(0));
        assert_eq!(first, Some(CloudRequest::ListJobs { generation: 1 }));
        assert_eq!(view.refresh(), None, "r waits for the running fetch");
        view.answered(1, Ok(vec![job("a")]), at(1));
        assert_eq!(
            view.refresh_if_due(at(6)),
            Some(CloudRequest::ListJobs { generation: 2 })
        );
    }

    #[test]
    fn the_selection_follows_its_job_and_late_answers_are_dropped() {
        let mut view = JobsView::default();
        view.refresh();
        view.answered(1, Ok(vec![job("b"), job("a")]), at(0));
        view.select_by(1);
        assert_eq!(view.selected_job().map(|j| j.id.as_str()), Some("a"));
        view.refresh();
        view.answered(2, Ok(vec![job("c"), job("b"), job("a")]), at(5));
        assert_eq!(view.selected_job().map(|j| j.id.as_str()), Some("a"));
        view.answered(1, Ok(vec![]), at(6));
        assert_eq!(view.jobs.len(), 3, "an older answer changes nothing");
        view.select_by(10);
        assert_eq!(view.selected, 2);
        view.select_by(-10);
        assert_eq!(view.selected, 0);
    }

    #[test]
    fn a_missing_scope_empties_the_list_and_an_outage_keeps_it() {
        let mut view = JobsView::default();
        view.refresh();
        view.answered(1, Ok(vec![job("a")]), at(0));
        view.refresh();
        view.answered(2, Err(CloudProblem::Unreachable("down".into())), at(5));
        assert_eq!(view.jobs.len(), 1);
        assert!(view.poll.problem.is_some() && !view.poll.loading);
        view.refresh();
        view.answered(3, Err(CloudProblem::NoProjectState), at(10));
        assert!(view.jobs.is_empty());
    }

    #[test]
    fn opening_follows_the_job_and_closing_stops() {
        let mut view = JobsView::default();
        assert_eq!(view.open_selected(), None, "nothing to open");
        view.refresh();
        view.answered(1, Ok(vec![job("a")]), at(0));
        assert_eq!(
            view.open_selected(),
            Some(CloudRequest::FollowJob { job_id: "a".into() })
        );
        assert_eq!(view.focused_job().map(|j| j.id.as_str()), Some("a"));
        assert_eq!(view.close_detail(), Some(CloudRequest::StopFollowing));
        assert_eq!(view.close_detail(), None);
    }
}
