//! The App's side of the cloud views: their keys, the cloud calls they ask for (drained by
//! the loop) and the answers folded back in. Still no I/O.

use crate::core::cloud::inference::AdapterRef;
use crate::core::engine::Command;
use crate::core::events::NoticeLevel;
use crate::tui::action::Action;
use crate::tui::cloud_tasks::{CloudReply, CloudRequest};
use crate::tui::confirmations;
use crate::tui::views::View;
use crate::tui::views::endpoints::EndpointAction;
use crate::tui::views::playground::model_label;

use super::App;

/// Rows a PgUp/PgDn moves in the job list and the event log.
const PAGE_ROWS: isize = 10;

impl App {
    /// Keys of the cloud views. `Some(command)` when the action was theirs.
    pub(super) fn handle_cloud_view_action(&mut self, action: &Action) -> Option<Option<Command>> {
        match action {
            Action::ShowView(view) => {
                self.show_view(*view);
                return Some(None);
            }
            Action::Answer(answer) if self.cloud_confirm.is_some() => {
                let confirm = self.cloud_confirm.take()?;
                let question = confirm.question.clone();
                match confirm.answer(*answer) {
                    Some(CloudRequest::ChangeEndpoint(change)) => self.send_endpoint_change(change),
                    Some(request) => {
                        if let CloudRequest::CancelJob { job_id } = &request {
                            self.say(NoticeLevel::Info, format!("cancelling cloud job {job_id}…"));
                        }
                        self.cloud_requests.push(request);
                    }
                    None => self.say(NoticeLevel::Info, format!("cancelled: {question}")),
                }
                self.ask_deferred();
                return Some(None);
            }
            _ => {}
        }
        if self.help_open {
            return None;
        }
        match self.view {
            View::Jobs => {}
            View::Playground => return self.handle_playground_action(action),
            View::Endpoints => {
                if !matches!(
                    action,
                    Action::Endpoint(_)
                        | Action::Edit(_)
                        | Action::ScrollUp(_)
                        | Action::ScrollDown(_)
                        | Action::PageUp
                        | Action::PageDown
                        | Action::ScrollTop
                        | Action::ScrollBottom
                        | Action::Click { .. }
                ) {
                    return None;
                }
                self.handle_endpoints_action(action);
                return Some(None);
            }
            View::Runs => return None,
        }
        let jobs = &mut self.jobs;
        match action {
            Action::RefreshJobs => match jobs.refresh() {
                Some(request) => self.cloud_requests.push(request),
                None => self.say(NoticeLevel::Info, "refreshing…"),
            },
            Action::OpenJob => match jobs.open_selected() {
                Some(request) => self.cloud_requests.push(request),
                None => self.say(NoticeLevel::Warn, "no job to open"),
            },
            Action::CloseJob => self.cloud_requests.extend(jobs.close_detail()),
            Action::CancelJob => self.ask_cancel(),
            Action::OpenPlayground => self.open_playground(),
            Action::Endpoint(EndpointAction::DeployJob) => self.deploy_focused_job(),
            Action::ScrollUp(n) => self.move_in_jobs(-(*n as isize)),
            Action::ScrollDown(n) => self.move_in_jobs(*n as isize),
            Action::PageUp => self.move_in_jobs(-PAGE_ROWS),
            Action::PageDown => self.move_in_jobs(PAGE_ROWS),
            Action::ScrollTop => self.move_in_jobs(isize::MIN / 2),
            Action::ScrollBottom => self.move_in_jobs(isize::MAX / 2),
            // Runs-view keys have no meaning here; the keymap does not send them.
            Action::Click { .. } => {}
            _ => return None,
        }
        Some(None)
    }

    fn handle_playground_action(&mut self, action: &Action) -> Option<Option<Command>> {
        let chat = &mut self.playground;
        match action {
            Action::FocusInput => chat.editing = true,
            Action::LeaveInput => chat.editing = false,
            Action::Edit(edit) => chat.input.apply(edit.clone()),
            Action::SendPrompt => match chat.send() {
                Some(request) => self.cloud_requests.push(request),
                None if chat.is_streaming() => {
                    self.say(
                        NoticeLevel::Info,
                        "a reply is streaming: Esc, then x stops it",
                    );
                }
                None => self.say(NoticeLevel::Info, "type a prompt first"),
            },
            Action::StopReply => match chat.stop() {
                Some(request) => {
                    self.cloud_requests.push(request);
                    self.say(NoticeLevel::Info, "reply stopped");
                }
                None => self.say(NoticeLevel::Info, "no reply is streaming"),
            },
            Action::ClearChat => {
                self.cloud_requests.extend(chat.clear());
                self.say(NoticeLevel::Info, "conversation cleared");
            }
            Action::CopyChat => {
                if chat.turns.is_empty() {
                    self.say(NoticeLevel::Info, "nothing to copy yet");
                } else {
                    let turns = chat.turns.len();
                    self.copies.push(chat.transcript());
                    self.say(
                        NoticeLevel::Info,
                        format!("copied the conversation ({turns} messages) to the clipboard"),
                    );
                }
            }
            Action::UseBaseModel => {
                chat.use_base_model();
                let label = model_label(&chat.model);
                self.say(NoticeLevel::Info, format!("chatting with {label}"));
            }
            Action::ScrollUp(n) => chat.scroll_by(*n as isize),
            Action::ScrollDown(n) => chat.scroll_by(-(*n as isize)),
            Action::PageUp => chat.scroll_by(PAGE_ROWS),
            Action::PageDown => chat.scroll_by(-PAGE_ROWS),
            Action::ScrollTop => chat.scroll_by(isize::MAX / 2),
            Action::ScrollBottom => chat.scroll = 0,
            Action::Click { .. } => {}
            _ => return None,
        }
        Some(None)
    }

    /// `p` on a job: chat with its adapter.
    fn open_playground(&mut self) {
        let Some(adapter) = self.focused_job_adapter("chat with", 'p') else {
            return;
        };
        self.playground.use_adapter(adapter);
        self.view = View::Playground;
    }

    /// The focused job's adapter: its final one when it completed, else the newest checkpoint
    /// its open detail has seen. Without one the footer says why (`what`: what `key` would do
    /// with it).
    pub(super) fn focused_job_adapter(&mut self, what: &str, key: char) -> Option<AdapterRef> {
        let Some(job) = self.jobs.focused_job().cloned() else {
            self.say(NoticeLevel::Warn, "no job selected");
            return None;
        };
        let newest_checkpoint = self
            .jobs
            .detail
            .as_ref()
            .filter(|d| d.job.id == job.id)
            .and_then(|d| d.metrics.checkpoints().latest());
        if job.has_final_adapter() {
            return Some(AdapterRef::final_of(job.id.clone()));
        }
        if let Some(step) = newest_checkpoint {
            return Some(AdapterRef::checkpoint_of(job.id.clone(), step));
        }
        let hint = if self.jobs.detail.is_some() {
            String::new()
        } else {
            format!(" (Enter shows its checkpoints; {key} there uses the newest)")
        };
        self.say(
            NoticeLevel::Warn,
            format!(
                "job {} is {} and has no adapter to {what}{hint}",
                job.id,
                job.status.as_str()
            ),
        );
        None
    }

    fn show_view(&mut self, view: View) {
        self.view = view;
        // Shown at once with what is known; a fetch starts if the list is old.
        self.tick_cloud();
    }

    /// Down the list / forward in the log (positive) or up / back (negative).
    fn move_in_jobs(&mut self, by: isize) {
        match &mut self.jobs.detail {
            // The log is read from the bottom: "down" shows newer lines.
            Some(detail) => detail.scroll_by(-by),
            None => self.jobs.select_by(by),
        }
    }

    fn ask_cancel(&mut self) {
        let Some(job) = self.jobs.focused_job().cloned() else {
            self.say(NoticeLevel::Warn, "no job selected");
            return;
        };
        if job.status.is_over() {
            self.say(
                NoticeLevel::Info,
                format!(
                    "job {} is {}: nothing to cancel",
                    job.id,
                    job.status.as_str()
                ),
            );
            return;
        }
        let local = self.local_run_of(&job.id);
        self.cloud_confirm = Some(confirmations::cancel_job(&job, local));
    }

    /// The local run whose cloud job `job_id` is.
    pub fn local_run_of(&self, job_id: &str) -> Option<u32> {
        self.runs
            .iter()
            .find(|r| r.job_id.as_deref() == Some(job_id))
            .map(|r| r.pid)
    }

    /// Start the cloud calls that are due (the shown list's periodic refresh).
    pub fn tick_cloud(&mut self) {
        let due = match self.view {
            View::Jobs => self.jobs.refresh_if_due(self.now),
            View::Endpoints => self.endpoints.refresh_if_due(self.now),
            View::Runs | View::Playground => None,
        };
        self.cloud_requests.extend(due);
    }

    /// Drained by the loop and run by [`crate::tui::cloud_tasks::CloudTasks`].
    pub fn take_cloud_requests(&mut self) -> Vec<CloudRequest> {
        std::mem::take(&mut self.cloud_requests)
    }

    /// Fold in a cloud call's answer. Returns whether the screen needs a redraw.
    pub fn apply_cloud_reply(&mut self, reply: CloudReply) -> bool {
        match reply {
            CloudReply::Jobs { generation, result } => {
                self.jobs.answered(generation, result, self.now);
                self.cloud_requests.extend(self.jobs.queued_refresh());
                self.endpoints.jobs_arrived(&self.jobs.jobs);
                matches!(self.view, View::Jobs | View::Endpoints)
            }
            CloudReply::JobUpdate { job_id, update } => match &mut self.jobs.detail {
                Some(detail) if detail.job.id == job_id => {
                    detail.apply(update);
                    self.view == View::Jobs
                }
                _ => false,
            },
            CloudReply::FollowFailed { job_id, problem } => match &mut self.jobs.detail {
                Some(detail) if detail.job.id == job_id => {
                    detail.failed(problem);
                    self.view == View::Jobs
                }
                _ => false,
            },
            CloudReply::ChatText { chat_id, text } => {
                self.playground.reply_text(chat_id, &text) && self.view == View::Playground
            }
            CloudReply::ChatEnded { chat_id, error } => {
                self.playground.reply_ended(chat_id, error) && self.view == View::Playground
            }
            reply @ (CloudReply::Deployments { .. }
            | CloudReply::Keys { .. }
            | CloudReply::EndpointChanged { .. }) => self.apply_endpoints_reply(reply),
            CloudReply::Cancelled { job_id, result } => {
                match result {
                    Ok(()) => {
                        self.say(NoticeLevel::Info, format!("cloud job {job_id} cancelled"));
                        // Show its new status now rather than at the next poll.
                        self.cloud_requests.extend(self.jobs.refresh());
                    }
                    Err(problem) => {
                        let text = format!("cloud job {job_id} not cancelled: {}", problem.what());
                        self.alert = Some((NoticeLevel::Error, text));
                    }
                }
                true
            }
        }
    }
}
