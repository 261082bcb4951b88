//! The App's side of the Endpoints view (`4`): its keys, the changes it asks the cloud for
//! (the costly ones after a question) and their answers folded back in. Still no I/O.

use crate::core::cloud::endpoints::{AuthMode, DeploymentTarget};
use crate::core::events::NoticeLevel;
use crate::tui::action::Action;
use crate::tui::cloud_tasks::{CloudReply, CloudRequest};
use crate::tui::confirmations;
use crate::tui::keymap::EndpointEntry;
use crate::tui::views::View;
use crate::tui::views::endpoints::{ChangeOutcome, EndpointAction, EndpointChange};
use crate::tui::views::text_input::TextInput;

use super::App;

/// Rows a PgUp/PgDn moves in the deployment and key lists.
const PAGE_ROWS: isize = 10;

impl App {
    /// Which text field of the Endpoints view has the keys, if any.
    pub(super) fn endpoint_entry(&self) -> Option<EndpointEntry> {
        if self.view != View::Endpoints {
            return None;
        }
        let view = &self.endpoints;
        if view.form.is_some() {
            Some(EndpointEntry::Form)
        } else if view.detail.as_ref().is_some_and(|d| d.label.is_some()) {
            Some(EndpointEntry::KeyLabel)
        } else {
            None
        }
    }

    /// Keys of the Endpoints view. Always the view's own once it is shown.
    pub(super) fn handle_endpoints_action(&mut self, action: &Action) {
        match action {
            Action::Endpoint(action) => self.endpoint_action(action),
            Action::Edit(edit) => {
                let view = &mut self.endpoints;
                if let Some(form) = &mut view.form {
                    form.slug.apply(edit.clone());
                    form.error = None;
                } else if let Some(input) = view.detail.as_mut().and_then(|d| d.label.as_mut()) {
                    input.apply(edit.clone());
                }
            }
            Action::ScrollUp(n) => self.endpoints.move_by(-(*n as isize)),
            Action::ScrollDown(n) => self.endpoints.move_by(*n as isize),
            Action::PageUp => self.endpoints.move_by(-PAGE_ROWS),
            Action::PageDown => self.endpoints.move_by(PAGE_ROWS),
            Action::ScrollTop => self.endpoints.move_by(isize::MIN / 2),
            Action::ScrollBottom => self.endpoints.move_by(isize::MAX / 2),
            _ => {}
        }
    }

    fn endpoint_action(&mut self, action: &EndpointAction) {
        match action {
            EndpointAction::Refresh => {
                let requests = [self.endpoints.refresh(), self.endpoints.reload_keys()];
                if requests[0].is_none() {
                    self.say(NoticeLevel::Info, "refreshing…");
                }
                self.cloud_requests.extend(requests.into_iter().flatten());
            }
            EndpointAction::Open => match self.endpoints.open_selected() {
                Some(request) => self.cloud_requests.push(request),
                None => self.say(NoticeLevel::Warn, "no endpoint to open (n creates one)"),
            },
            EndpointAction::Close => self.close_endpoint_layer(),
            EndpointAction::New => self.open_endpoint_form(None),
            EndpointAction::DeployJob => self.deploy_focused_job(),
            EndpointAction::ToggleEnabled => self.toggle_endpoint(),
            EndpointAction::Delete => match self.endpoints.focused() {
                Some(deployment) => {
                    self.cloud_confirm = Some(confirmations::delete_endpoint(deployment));
                }
                None => self.say(NoticeLevel::Warn, "no endpoint selected"),
            },
            EndpointAction::CopyUrl => match self.endpoints.focused() {
                Some(deployment) => {
                    let url = deployment.url();
                    self.copies.push(url.clone());
                    self.say(NoticeLevel::Info, format!("copied {url} to the clipboard"));
                }
                None => self.say(NoticeLevel::Warn, "no endpoint selected"),
            },
            EndpointAction::NewKey => match &mut self.endpoints.detail {
                Some(detail) => {
                    detail.label = Some(TextInput::default());
                    detail.label_error = None;
                }
                None => self.say(NoticeLevel::Info, "open an endpoint first (Enter)"),
            },
            EndpointAction::RevokeKey => self.ask_revoke(),
            EndpointAction::PrevTarget => self.endpoints.cycle_target(-1, &self.jobs.jobs),
            EndpointAction::NextTarget => self.endpoints.cycle_target(1, &self.jobs.jobs),
            EndpointAction::ToggleAuth => {
                if let Some(form) = &mut self.endpoints.form {
                    form.auth_mode = match form.auth_mode {
                        AuthMode::FixedApiKey => AuthMode::None,
                        AuthMode::None => AuthMode::FixedApiKey,
                    };
                }
            }
            EndpointAction::Submit => {
                let change = if self.endpoints.form.is_some() {
                    self.endpoints.submit_form()
                } else {
                    self.endpoints.submit_label()
                };
                if let Some(change) = change {
                    self.send_endpoint_change(change);
                }
            }
            EndpointAction::CopySecret => {
                if let Some(key) = &self.endpoints.secret {
                    self.copies.push(key.plaintext.clone());
                    let label = key.label.clone();
                    self.say(
                        NoticeLevel::Info,
                        format!("copied the secret of key {label} to the clipboard"),
                    );
                }
            }
            EndpointAction::CloseSecret => self.endpoints.secret = None,
        }
    }

    /// Esc: out of the form or the key label, else back from a deployment to the list.
    fn close_endpoint_layer(&mut self) {
        let view = &mut self.endpoints;
        if view.form.take().is_some() {
            return;
        }
        if let Some(detail) = &mut view.detail
            && detail.label.take().is_some()
        {
            detail.label_error = None;
            return;
        }
        view.detail = None;
    }

    /// The create form; the job list is fetched first if it never was (its finished jobs are
    /// the form's targets).
    fn open_endpoint_form(&mut self, pinned: Option<DeploymentTarget>) {
        self.endpoints.open_form(pinned, &self.jobs.jobs);
        if self.jobs.poll.fetched_at.is_none() {
            self.cloud_requests.extend(self.jobs.refresh());
        }
    }

    /// `e` on a job: the Endpoints view's form serving its adapter (as `p` chooses it).
    pub(super) fn deploy_focused_job(&mut self) {
        let Some(adapter) = self.focused_job_adapter("serve", 'e') else {
            return;
        };
        self.view = View::Endpoints;
        self.tick_cloud();
        self.open_endpoint_form(Some(DeploymentTarget::Adapter(adapter)));
    }

    fn toggle_endpoint(&mut self) {
        let Some(deployment) = self.endpoints.focused() else {
            self.say(NoticeLevel::Warn, "no endpoint selected");
            return;
        };
        if deployment.enabled {
            self.cloud_confirm = Some(confirmations::disable_endpoint(deployment));
        } else {
            let change = EndpointChange::SetEnabled {
                id: deployment.id.clone(),
                slug: deployment.slug.clone(),
                enabled: true,
            };
            self.send_endpoint_change(change);
        }
    }

    fn ask_revoke(&mut self) {
        let Some(deployment) = self.endpoints.focused().cloned() else {
            self.say(NoticeLevel::Info, "open an endpoint first (Enter)");
            return;
        };
        let Some(key) = self
            .endpoints
            .detail
            .as_ref()
            .and_then(|d| d.selected_key())
            .cloned()
        else {
            self.say(NoticeLevel::Warn, "no key selected (a creates one)");
            return;
        };
        if !key.enabled {
            self.say(
                NoticeLevel::Info,
                format!("key {} is already revoked", key.label),
            );
            return;
        }
        self.cloud_confirm = Some(confirmations::revoke_key(&deployment, &key));
    }

    /// Send `change` unless another is under way (one at a time, so answers cannot cross).
    pub(super) fn send_endpoint_change(&mut self, change: EndpointChange) {
        if let Some(pending) = &self.endpoints.pending {
            let doing = pending.doing();
            self.say(
                NoticeLevel::Info,
                format!("still {doing} (one change at a time)"),
            );
            return;
        }
        self.say(NoticeLevel::Info, change.doing());
        self.endpoints.pending = Some(change.clone());
        self.cloud_requests
            .push(CloudRequest::ChangeEndpoint(change));
    }

    /// Fold in an Endpoints answer. Returns whether the screen needs a redraw.
    pub(super) fn apply_endpoints_reply(&mut self, reply: CloudReply) -> bool {
        let shown = self.view == View::Endpoints;
        match reply {
            CloudReply::Deployments { generation, result } => {
                self.endpoints.answered(generation, result, self.now);
                self.cloud_requests.extend(self.endpoints.queued_refresh());
                shown
            }
            CloudReply::Keys {
                deployment_id,
                result,
            } => self.endpoints.keys_answered(&deployment_id, result) && shown,
            CloudReply::EndpointChanged { change, result } => {
                self.endpoints.changed(&change, &result);
                match &result {
                    Ok(outcome) => {
                        self.say(NoticeLevel::Info, change.done());
                        let keys_changed = matches!(outcome, ChangeOutcome::Key(_))
                            || matches!(change, EndpointChange::RevokeKey { .. });
                        if keys_changed {
                            self.cloud_requests.extend(self.endpoints.reload_keys());
                        } else {
                            self.cloud_requests.extend(self.endpoints.refresh());
                        }
                    }
                    // The form and the key label show their refusal where the user types.
                    Err(_)
                        if matches!(
                            change,
                            EndpointChange::Create { .. } | EndpointChange::CreateKey { .. }
                        ) && shown => {}
                    Err(reason) => {
                        let text = format!("{}: {reason}", change.failed());
                        self.alert = Some((NoticeLevel::Error, text));
                    }
                }
                true
            }
            _ => false,
        }
    }
}
