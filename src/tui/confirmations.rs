//! The questions the dashboard asks before a costly or surprising action, each naming what
//! yes costs. The answer is an engine command, sent only on yes (see [`crate::tui::popup`]).

use crate::core::cloud::endpoints::{Deployment, DeploymentKey};
use crate::core::cloud::jobs::CloudJob;
use crate::core::engine::{Command, RESTART_ESCALATION_TIMEOUT};
use crate::core::events::{RunInfo, RunOrigin, describe_duration};
use crate::tui::cloud_tasks::CloudRequest;
use crate::tui::format;
use crate::tui::popup::Confirm;
use crate::tui::views::endpoints::EndpointChange;

/// `X`: SIGKILL now.
pub fn force_stop(run: &RunInfo) -> Confirm<Command> {
    let pid = run.pid;
    let mut confirm = Confirm::new(
        format!("force-stop run {pid}?"),
        "kill it",
        Command::StopRun { pid, force: true },
    )
    .cost("SIGKILL now: everything since its last checkpoint is lost.");
    confirm = match &run.job_id {
        Some(job) => confirm.cost(format!("Its cloud job {job} is cancelled.")),
        None => confirm.cost("Its cloud job, if one was being created, is cancelled."),
    };
    confirm.cost("x stops it at its next checkpoint instead.")
}

/// `s` while runs are live: another run is another cloud job.
pub fn start_another(live: usize) -> Confirm<Command> {
    let runs = if live == 1 { "run is" } else { "runs are" };
    Confirm::new(
        "start another run?",
        "start it",
        Command::StartRun {
            origin: RunOrigin::Engine,
            reply: None,
        },
    )
    .cost(format!(
        "{live} {runs} already training: a new run starts its own cloud job, billed alongside."
    ))
}

/// `--on-config-change=ask`: a build changed the config of a live run.
pub fn config_changed(run: &RunInfo) -> Confirm<Command> {
    let pid = run.pid;
    let changes = format::pending_changes(run);
    Confirm::new(
        "config changed: restart now? (y/n)",
        "restart",
        Command::RestartRun { pid },
    )
    .cost(format!("run {pid}: {changes}"))
    .cost(format!(
        "Yes: early stop at its next checkpoint (waits up to {}), then a new run with the new config.",
        describe_duration(RESTART_ESCALATION_TIMEOUT)
    ))
    .cost("No: it keeps training on its config, marked ≠; R restarts it later.")
}

/// `c` in the Jobs view: the cloud stops the job for good. `local`: the run it belongs to.
pub fn cancel_job(job: &CloudJob, local: Option<u32>) -> Confirm<CloudRequest> {
    let name = if job.name.is_empty() {
        String::new()
    } else {
        format!(" ({})", job.name)
    };
    let confirm = Confirm::new(
        format!("cancel cloud job {}{name}?", job.id),
        "stop training it",
        CloudRequest::CancelJob {
            job_id: job.id.clone(),
        },
    )
    .cost("The cloud stops training it now; it cannot be resumed.");
    match local {
        Some(pid) => confirm.cost(format!(
            "It is local run {pid}'s job: x in view 1 stops that run at its next checkpoint instead."
        )),
        None => confirm,
    }
}

/// `d` in the Endpoints view: the URL stops answering for good.
pub fn delete_endpoint(deployment: &Deployment) -> Confirm<CloudRequest> {
    let change = EndpointChange::Delete {
        id: deployment.id.clone(),
        slug: deployment.slug.clone(),
    };
    Confirm::new(
        format!("delete endpoint {}?", deployment.slug),
        "delete it",
        CloudRequest::ChangeEndpoint(change),
    )
    .cost(format!(
        "{} stops answering at once, and its API keys go with it.",
        deployment.url()
    ))
    .cost("It cannot be undone; e disables it instead (e again enables it).")
}

/// `e` on an enabled endpoint: its callers get errors until it is enabled again.
pub fn disable_endpoint(deployment: &Deployment) -> Confirm<CloudRequest> {
    let change = EndpointChange::SetEnabled {
        id: deployment.id.clone(),
        slug: deployment.slug.clone(),
        enabled: false,
    };
    Confirm::new(
        format!("disable endpoint {}?", deployment.slug),
        "disable it",
        CloudRequest::ChangeEndpoint(change),
    )
    .cost(format!(
        "Calls to {} are refused until it is enabled again (e).",
        deployment.url()
    ))
}

/// `x` on a key: whoever holds it is refused from now on.
pub fn revoke_key(deployment: &Deployment, key: &DeploymentKey) -> Confirm<CloudRequest> {
    let change = EndpointChange::RevokeKey {
        id: deployment.id.clone(),
        slug: deployment.slug.clone(),
        key_id: key.id.clone(),
        label: key.label.clone(),
    };
    Confirm::new(
        format!("revoke key {} ({}…)?", key.label, key.prefix),
        "revoke it",
        CloudRequest::ChangeEndpoint(change),
    )
    .cost(format!(
        "Calls to endpoint {} with this key are refused at once.",
        deployment.slug
    ))
    .cost("A revoked key cannot be restored; a creates a new one (with a new secret).")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::events::{ConfigChange, RunState};

    #[test]
    fn each_question_names_its_cost() {
        let mut run = RunInfo::new(7, RunOrigin::Engine, std::time::SystemTime::UNIX_EPOCH);
        run.state = RunState::Running;
        run.job_id = Some("job-7".into());
        let kill = force_stop(&run);
        assert!(kill.cost.iter().any(|c| c.contains("job-7")), "{kill:?}");
        assert!(matches!(
            kill.on_yes,
            Command::StopRun {
                pid: 7,
                force: true
            }
        ));
        let another = start_another(2);
        assert!(another.cost[0].starts_with("2 runs are already training"));
        run.pending_config = Some(vec![ConfigChange {
            key: "learningRate".into(),
            old: Some("0.0002".into()),
            new: Some("0.0001".into()),
        }]);
        let ask = config_changed(&run);
        assert_eq!(ask.question, "config changed: restart now? (y/n)");
        assert!(ask.cost[0].contains("learningRate 0.0002 → 0.0001"));
        assert!(ask.cost[1].contains("5 min 30 s"));
    }
}
