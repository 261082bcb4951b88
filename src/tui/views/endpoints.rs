//! The Endpoints view's state (`4`): the project's deployments, kept fresh like the job list;
//! one deployment's detail with its API keys; the form that creates a deployment from a job's
//! adapter (or a base model); the secret of a key just created, shown once. Changes go one at
//! a time, each body checked here first with the same checks the server applies, so a body
//! the cloud would refuse never leaves the machine.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::core::cloud::endpoints::{
    AuthMode, CreatedKey, Deployment, DeploymentKey, DeploymentTarget, create_body,
    validate_create, validate_key_create,
};
use crate::core::cloud::inference::{AdapterRef, BASE_MODELS, ChatModel};
use crate::core::cloud::jobs::CloudJob;
use crate::tui::cloud_tasks::{CloudProblem, CloudRequest};
use crate::tui::views::playground::model_label;
use crate::tui::views::poll::Poll;
use crate::tui::views::text_input::TextInput;

/// The keys of the Endpoints view (and `e` in the Jobs view), as actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointAction {
    Refresh,
    /// Show the selected deployment with its keys.
    Open,
    /// Back from a deployment (or out of the form / the key label) to the list.
    Close,
    /// The create form, its target the first candidate.
    New,
    /// From the Jobs view: the create form for the focused job's adapter.
    DeployJob,
    /// Enable a disabled deployment; disable an enabled one (asks first).
    ToggleEnabled,
    /// Delete the focused deployment (asks first).
    Delete,
    /// Copy the focused deployment's URL.
    CopyUrl,
    /// Name a new API key of the open deployment.
    NewKey,
    /// Revoke the selected key of the open deployment (asks first).
    RevokeKey,
    /// In the form: the previous / next target.
    PrevTarget,
    NextTarget,
    /// In the form: `fixed_api_key` ↔ `none`.
    ToggleAuth,
    /// Send the form or the key label.
    Submit,
    /// Copy the new key's secret (while it is shown).
    CopySecret,
    /// Forget the new key's secret (it is never shown again).
    CloseSecret,
}

/// A change to the project's deployments, as sent to the cloud.
#[derive(Clone, Debug, PartialEq)]
pub enum EndpointChange {
    Create {
        slug: String,
        body: serde_json::Value,
    },
    SetEnabled {
        id: String,
        slug: String,
        enabled: bool,
    },
    Delete {
        id: String,
        slug: String,
    },
    CreateKey {
        id: String,
        slug: String,
        body: serde_json::Value,
    },
    RevokeKey {
        id: String,
        slug: String,
        key_id: String,
        label: String,
    },
}

impl EndpointChange {
    /// What it acts on and its two verbs: (`endpoint my-model`, `deleting`, `deleted`).
    fn parts(&self) -> (String, &'static str, &'static str) {
        match self {
            Self::Create { slug, .. } => (format!("endpoint {slug}"), "creating", "created"),
            Self::SetEnabled {
                slug,
                enabled: true,
                ..
            } => (format!("endpoint {slug}"), "enabling", "enabled"),
            Self::SetEnabled { slug, .. } => (format!("endpoint {slug}"), "disabling", "disabled"),
            Self::Delete { slug, .. } => (format!("endpoint {slug}"), "deleting", "deleted"),
            Self::CreateKey { slug, .. } => {
                (format!("a key of endpoint {slug}"), "creating", "created")
            }
            Self::RevokeKey { slug, label, .. } => (
                format!("key {label} of endpoint {slug}"),
                "revoking",
                "revoked",
            ),
        }
    }

    /// The footer's line while it is under way: `deleting endpoint my-model…`.
    pub fn doing(&self) -> String {
        let (what, doing, _) = self.parts();
        format!("{doing} {what}…")
    }

    /// Once it went through: `endpoint my-model deleted`.
    pub fn done(&self) -> String {
        let (what, _, done) = self.parts();
        format!("{what} {done}")
    }

    /// When the cloud refused it: `endpoint my-model not deleted`.
    pub fn failed(&self) -> String {
        let (what, _, done) = self.parts();
        format!("{what} not {done}")
    }
}

/// What a change came back with.
#[derive(Debug)]
pub enum ChangeOutcome {
    /// The deployment as it now is (created or updated).
    Deployment(Deployment),
    /// A key just created, with its secret.
    Key(CreatedKey),
    /// Deleted or revoked.
    Gone,
}

/// One deployment opened with Enter, and its keys.
#[derive(Debug)]
pub struct EndpointDetail {
    pub id: String,
    pub keys: Vec<DeploymentKey>,
    /// The keys arrived at least once.
    pub keys_loaded: bool,
    pub keys_problem: Option<CloudProblem>,
    pub selected_key: usize,
    /// The label of a key being created, while it is typed.
    pub label: Option<TextInput>,
    /// Why the last label was refused (the local check).
    pub label_error: Option<String>,
}

impl EndpointDetail {
    fn new(id: String) -> Self {
        Self {
            id,
            keys: Vec::new(),
            keys_loaded: false,
            keys_problem: None,
            selected_key: 0,
            label: None,
            label_error: None,
        }
    }

    pub fn selected_key(&self) -> Option<&DeploymentKey> {
        self.keys.get(self.selected_key)
    }
}

/// The create form: what it serves, at which slug, with which auth mode.
#[derive(Debug)]
pub struct CreateForm {
    /// Offered first: the adapter of the job the form was opened from.
    pub pinned: Option<DeploymentTarget>,
    pub target: DeploymentTarget,
    pub slug: TextInput,
    pub auth_mode: AuthMode,
    /// Why the last try did not go through (the local check, or the cloud's answer).
    pub error: Option<String>,
    /// The user picked the target (a late job list must not change it).
    chosen: bool,
    /// The slug the form made up; while the field still holds it, a new target brings its own.
    suggested: String,
}

impl CreateForm {
    /// Serve `target`; an untouched slug follows it.
    fn retarget(&mut self, target: DeploymentTarget, jobs: &[CloudJob]) {
        if self.slug.text() == self.suggested {
            self.suggested = suggested_slug(&target, jobs);
            self.slug = TextInput::with_text(&self.suggested);
        }
        self.target = target;
        self.error = None;
    }
}

#[derive(Debug, Default)]
pub struct EndpointsView {
    /// As the last answer listed them.
    pub deployments: Vec<Deployment>,
    /// Index into `deployments`.
    pub selected: usize,
    /// First row drawn (kept by the table between frames).
    pub offset: usize,
    pub poll: Poll,
    pub detail: Option<EndpointDetail>,
    pub form: Option<CreateForm>,
    /// The key just created: its secret is shown until closed, and never again.
    pub secret: Option<CreatedKey>,
    /// The change under way (one at a time).
    pub pending: Option<EndpointChange>,
    /// The deployment to select when the next list arrives (one just created).
    select_after: Option<String>,
}

impl EndpointsView {
    pub fn refresh_if_due(&mut self, now: SystemTime) -> Option<CloudRequest> {
        let generation = self.poll.start_if_due(now)?;
        Some(CloudRequest::ListDeployments { generation })
    }

    pub fn refresh(&mut self) -> Option<CloudRequest> {
        let generation = self.poll.start()?;
        Some(CloudRequest::ListDeployments { generation })
    }

    pub fn queued_refresh(&mut self) -> Option<CloudRequest> {
        let generation = self.poll.take_queued()?;
        Some(CloudRequest::ListDeployments { generation })
    }

    pub fn next_refresh(&self, now: SystemTime) -> Option<Duration> {
        self.poll.next_due(now)
    }

    /// Fold in a list; an answer to an older request is dropped. The selection follows its
    /// deployment; an open deployment that is gone closes.
    pub fn answered(
        &mut self,
        generation: u64,
        result: Result<Vec<Deployment>, CloudProblem>,
        now: SystemTime,
    ) {
        let (list, problem) = match result {
            Ok(list) => (Some(list), None),
            Err(problem) => (None, Some(problem)),
        };
        if !self.poll.answered(generation, problem, now) {
            return;
        }
        let Some(list) = list else {
            if self.poll.scope_lost() {
                self.deployments.clear();
                self.selected = 0;
                self.detail = None;
            }
            return;
        };
        let follow = self
            .select_after
            .take()
            .or_else(|| self.selected_deployment().map(|d| d.id.clone()));
        self.deployments = list;
        self.selected = follow
            .and_then(|id| self.deployments.iter().position(|d| d.id == id))
            .unwrap_or(0)
            .min(self.deployments.len().saturating_sub(1));
        if let Some(detail) = &self.detail
            && !self.deployments.iter().any(|d| d.id == detail.id)
        {
            self.detail = None;
        }
    }

    pub fn selected_deployment(&self) -> Option<&Deployment> {
        self.deployments.get(self.selected)
    }

    /// The open deployment, else the selected one.
    pub fn focused(&self) -> Option<&Deployment> {
        match &self.detail {
            Some(detail) => self.deployments.iter().find(|d| d.id == detail.id),
            None => self.selected_deployment(),
        }
    }

    /// Down the list / the keys (positive) or up (negative), clamped.
    pub fn move_by(&mut self, delta: isize) {
        match &mut self.detail {
            Some(detail) => {
                let last = detail.keys.len().saturating_sub(1);
                detail.selected_key = detail.selected_key.saturating_add_signed(delta).min(last);
            }
            None => {
                let last = self.deployments.len().saturating_sub(1);
                self.selected = self.selected.saturating_add_signed(delta).min(last);
            }
        }
    }

    /// Open the selected deployment; the request fetches its keys.
    pub fn open_selected(&mut self) -> Option<CloudRequest> {
        let id = self.selected_deployment()?.id.clone();
        self.detail = Some(EndpointDetail::new(id.clone()));
        Some(CloudRequest::ListKeys { deployment_id: id })
    }

    /// The keys of the open deployment, again.
    pub fn reload_keys(&self) -> Option<CloudRequest> {
        let id = self.detail.as_ref()?.id.clone();
        Some(CloudRequest::ListKeys { deployment_id: id })
    }

    pub fn keys_answered(
        &mut self,
        deployment_id: &str,
        result: Result<Vec<DeploymentKey>, CloudProblem>,
    ) -> bool {
        let Some(detail) = self.detail.as_mut().filter(|d| d.id == deployment_id) else {
            return false;
        };
        match result {
            Ok(keys) => {
                let follow = detail.selected_key().map(|k| k.id.clone());
                detail.keys = keys;
                detail.keys_loaded = true;
                detail.keys_problem = None;
                detail.selected_key = follow
                    .and_then(|id| detail.keys.iter().position(|k| k.id == id))
                    .unwrap_or(0);
            }
            Err(problem) => detail.keys_problem = Some(problem),
        }
        true
    }

    /// The form, serving `pinned` (a job's adapter) if given, else the first candidate, with
    /// a slug made from what it serves.
    pub fn open_form(&mut self, pinned: Option<DeploymentTarget>, jobs: &[CloudJob]) {
        let chosen = pinned.is_some();
        let target = pinned
            .clone()
            .unwrap_or_else(|| candidate_targets(None, jobs).remove(0));
        let suggested = suggested_slug(&target, jobs);
        self.form = Some(CreateForm {
            pinned,
            target,
            slug: TextInput::with_text(&suggested),
            auth_mode: AuthMode::FixedApiKey,
            error: None,
            chosen,
            suggested,
        });
    }

    /// The job list arrived: a form whose target nobody chose yet offers the newest finished
    /// job's adapter rather than the base model it had to start with.
    pub fn jobs_arrived(&mut self, jobs: &[CloudJob]) {
        if let Some(form) = self.form.as_mut().filter(|f| !f.chosen) {
            let first = candidate_targets(None, jobs).remove(0);
            form.retarget(first, jobs);
        }
    }

    /// The form's previous (negative) or next target among the candidates.
    pub fn cycle_target(&mut self, delta: isize, jobs: &[CloudJob]) {
        let Some(form) = &mut self.form else { return };
        let candidates = candidate_targets(form.pinned.as_ref(), jobs);
        let at = candidates
            .iter()
            .position(|t| *t == form.target)
            .unwrap_or(0);
        let count = candidates.len() as isize;
        let next = (at as isize + delta).rem_euclid(count.max(1)) as usize;
        if let Some(target) = candidates.get(next) {
            form.chosen = true;
            form.retarget(target.clone(), jobs);
        }
    }

    /// The form's create, if its body passes the local check (else the form says why).
    pub fn submit_form(&mut self) -> Option<EndpointChange> {
        let form = self.form.as_mut()?;
        let slug = form.slug.text().trim().to_owned();
        let body = create_body(&slug, &form.target, form.auth_mode);
        match validate_create(&body) {
            Ok(()) => {
                form.error = None;
                Some(EndpointChange::Create { slug, body })
            }
            Err(message) => {
                form.error = Some(message);
                None
            }
        }
    }

    /// The label's key create, if the label passes the local check (else the detail says why).
    pub fn submit_label(&mut self) -> Option<EndpointChange> {
        let slug = self.focused()?.slug.clone();
        let detail = self.detail.as_mut()?;
        let label = detail.label.as_ref()?.text().to_owned();
        match validate_key_create(&json!({ "label": label })) {
            Ok(body) => {
                detail.label_error = None;
                Some(EndpointChange::CreateKey {
                    id: detail.id.clone(),
                    slug,
                    body,
                })
            }
            Err(message) => {
                detail.label_error = Some(message);
                None
            }
        }
    }

    /// Fold in what a change came back with. `Err` is kept by the form (a create) or the label
    /// (a key) so the user can fix it; the caller says the rest.
    pub fn changed(&mut self, change: &EndpointChange, outcome: &Result<ChangeOutcome, String>) {
        self.pending = None;
        match (change, outcome) {
            (EndpointChange::Create { .. }, Ok(ChangeOutcome::Deployment(created))) => {
                self.form = None;
                self.select_after = Some(created.id.clone());
                self.deployments.push(created.clone());
                self.selected = self.deployments.len() - 1;
            }
            (EndpointChange::Create { .. }, Err(message)) => {
                if let Some(form) = &mut self.form {
                    form.error = Some(message.clone());
                }
            }
            (_, Ok(ChangeOutcome::Deployment(updated))) => {
                if let Some(slot) = self.deployments.iter_mut().find(|d| d.id == updated.id) {
                    *slot = updated.clone();
                }
            }
            (EndpointChange::Delete { id, .. }, Ok(_)) => {
                self.deployments.retain(|d| d.id != *id);
                self.selected = self.selected.min(self.deployments.len().saturating_sub(1));
                if self.detail.as_ref().is_some_and(|d| d.id == *id) {
                    self.detail = None;
                }
            }
            (EndpointChange::CreateKey { id, .. }, Ok(ChangeOutcome::Key(key))) => {
                self.secret = Some(key.clone());
                if let Some(detail) = self.detail.as_mut().filter(|d| d.id == *id) {
                    detail.label = None;
                }
            }
            (EndpointChange::CreateKey { .. }, Err(message)) => {
                if let Some(detail) = &mut self.detail {
                    detail.label_error = Some(message.clone());
                }
            }
            _ => {}
        }
    }
}

/// What the form offers to serve, in order: the pinned adapter, each completed job's final
/// adapter (newest first, as listed), each base model.
pub fn candidate_targets(
    pinned: Option<&DeploymentTarget>,
    jobs: &[CloudJob],
) -> Vec<DeploymentTarget> {
    let mut targets: Vec<DeploymentTarget> = pinned.into_iter().cloned().collect();
    let finals = jobs
        .iter()
        .filter(|job| job.has_final_adapter())
        .map(|job| DeploymentTarget::Adapter(AdapterRef::final_of(job.id.clone())));
    let bases = BASE_MODELS
        .iter()
        .map(|model| DeploymentTarget::BaseModel((*model).to_owned()));
    for target in finals.chain(bases) {
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    targets
}

/// `job sim-done-3 · final adapter`, `unsloth/gemma-4-E4B-it (base model)`: as the
/// Playground names what it chats with.
pub fn target_label(target: &DeploymentTarget) -> String {
    let model = match target {
        DeploymentTarget::BaseModel(model) => ChatModel::Base(model.clone()),
        DeploymentTarget::Adapter(adapter) => ChatModel::Adapter(adapter.clone()),
    };
    model_label(&model)
}

/// The slug the form offers for `target`: the job's name (its id when unnamed or not
/// listed), or the base model's name without its owner.
fn suggested_slug(target: &DeploymentTarget, jobs: &[CloudJob]) -> String {
    match target {
        DeploymentTarget::BaseModel(model) => slug_from(model.rsplit('/').next().unwrap_or(model)),
        DeploymentTarget::Adapter(adapter) => {
            let job = jobs.iter().find(|j| j.id == adapter.job_id);
            let name = job.map(|j| j.name.as_str()).filter(|n| !n.is_empty());
            let slug = slug_from(name.unwrap_or(&adapter.job_id));
            match adapter.checkpoint {
                Some(step) => format!("{slug}-step-{step}"),
                None => slug,
            }
        }
    }
}

/// A slug the cloud accepts, made from a job's name: lowercase letters, digits and single
/// hyphens, at most 50 characters (empty when nothing usable is left).
pub fn slug_from(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 50 {
            break;
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::core::cloud::endpoints::AuthMode;
    use crate::core::cloud::jobs::JobStatus;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn deployment(id: &str) -> Deployment {
        Deployment {
            id: id.into(),
            slug: format!("slug-{id}"),
            target: DeploymentTarget::BaseModel("m".into()),
            auth_mode: AuthMode::FixedApiKey,
            enabled: true,
            custom_domain: None,
            created_at: String::new(),
        }
    }

    fn job(id: &str, status: JobStatus) -> CloudJob {
        CloudJob {
            id: id.into(),
            name: String::new(),
            status,
            created_at: None,
            started_at: None,
            completed_at: None,
            error: None,
            config: Value::Null,
        }
    }

    #[test]
    fn the_selection_follows_its_deployment_and_a_gone_one_closes() {
        let mut view = EndpointsView::default();
        let generation = match view.refresh_if_due(at(0)) {
            Some(CloudRequest::ListDeployments { generation }) => generation,
            other => panic!("{other:?}"),
        };
        view.answered(
            generation,
            Ok(vec![deployment("a"), deployment("b")]),
            at(0),
        );
        view.move_by(1);
        assert_eq!(
            view.open_selected(),
            Some(CloudRequest::ListKeys {
                deployment_id: "b".into()
            })
        );
        let generation = match view.refresh() {
            Some(CloudRequest::ListDeployments { generation }) => generation,
            other => panic!("{other:?}"),
        };
        view.answered(
            generation,
            Ok(vec![deployment("c"), deployment("b")]),
            at(5),
        );
        assert_eq!(view.focused().map(|d| d.id.as_str()), Some("b"));
        view.refresh();
        view.answered(generation + 1, Ok(vec![deployment("c")]), at(10));
        assert!(view.detail.is_none(), "b is gone");
        assert_eq!(view.selected, 0);
    }

    #[test]
    fn the_form_checks_the_body_locally_and_keeps_the_cloud_refusal() {
        let mut view = EndpointsView::default();
        let jobs = [
            job("j1", JobStatus::Completed),
            job("j2", JobStatus::Running),
        ];
        view.open_form(None, &jobs);
        let form = view.form.as_mut().unwrap();
        form.slug = TextInput::with_text("X");
        assert_eq!(
            form.target,
            DeploymentTarget::Adapter(AdapterRef::final_of("j1")),
            "the newest finished job first"
        );
        assert_eq!(view.submit_form(), None);
        let error = view.form.as_ref().unwrap().error.clone().unwrap();
        assert!(
            error.starts_with("Invalid deployment create body: slug"),
            "{error}"
        );
        view.cycle_target(1, &jobs);
        assert_eq!(
            view.form.as_ref().unwrap().target,
            DeploymentTarget::BaseModel(BASE_MODELS[0].into())
        );
        view.cycle_target(1, &jobs);
        assert_eq!(
            view.form.as_ref().unwrap().target,
            DeploymentTarget::Adapter(AdapterRef::final_of("j1")),
            "wraps around"
        );
        let form = view.form.as_mut().unwrap();
        form.slug = TextInput::with_text("my-model");
        let change = view.submit_form().expect("passes the check");
        let refused = Err("Deployment slug is already taken".to_owned());
        view.changed(&change, &refused);
        assert_eq!(
            view.form.as_ref().unwrap().error.as_deref(),
            Some("Deployment slug is already taken"),
            "the form stays open with the cloud's reason"
        );
    }

    #[test]
    fn a_created_key_is_kept_for_showing_once_and_a_bad_label_never_leaves() {
        let mut view = EndpointsView::default();
        view.poll.start();
        view.answered(1, Ok(vec![deployment("a")]), at(0));
        view.open_selected();
        let detail = view.detail.as_mut().unwrap();
        detail.label = Some(TextInput::with_text("   "));
        assert_eq!(view.submit_label(), None);
        assert!(view.detail.as_ref().unwrap().label_error.is_some());
        view.detail.as_mut().unwrap().label = Some(TextInput::with_text(" ci "));
        let change = view.submit_label().expect("passes the check");
        assert_eq!(
            change,
            EndpointChange::CreateKey {
                id: "a".into(),
                slug: "slug-a".into(),
                body: json!({"label": "ci"})
            }
        );
        let key = CreatedKey {
            id: "k".into(),
            label: "ci".into(),
            plaintext: "secret".into(),
            prefix: "ark_".into(),
        };
        view.changed(&change, &Ok(ChangeOutcome::Key(key)));
        assert_eq!(
            view.secret.as_ref().map(|k| k.plaintext.as_str()),
            Some("secret")
        );
        assert!(view.detail.as_ref().unwrap().label.is_none());
    }

    #[test]
    fn a_late_job_list_retargets_an_untouched_form_and_its_slug_follows() {
        let mut view = EndpointsView::default();
        view.open_form(None, &[]);
        let form = view.form.as_ref().unwrap();
        assert_eq!(
            form.target,
            DeploymentTarget::BaseModel(BASE_MODELS[0].into())
        );
        assert_eq!(form.slug.text(), "gemma-4-e4b-it");
        let mut done = job("j1", JobStatus::Completed);
        done.name = "Triage v2".into();
        view.jobs_arrived(std::slice::from_ref(&done));
        let form = view.form.as_ref().unwrap();
        assert_eq!(
            form.target,
            DeploymentTarget::Adapter(AdapterRef::final_of("j1"))
        );
        assert_eq!(form.slug.text(), "triage-v2");
        // A typed slug stays; a chosen target stays.
        view.form.as_mut().unwrap().slug = TextInput::with_text("mine");
        view.cycle_target(1, std::slice::from_ref(&done));
        assert_eq!(view.form.as_ref().unwrap().slug.text(), "mine");
        view.jobs_arrived(&[]);
        assert_eq!(
            view.form.as_ref().unwrap().target,
            DeploymentTarget::BaseModel(BASE_MODELS[0].into())
        );
    }

    #[test]
    fn slugs_from_job_names() {
        assert_eq!(slug_from("Demo Triage v2!"), "demo-triage-v2");
        assert_eq!(slug_from("--__"), "");
        assert_eq!(slug_from(&"a".repeat(80)).len(), 50);
    }
}
