//! Shared helpers: a harness around a real Supervisor that records every event.

use std::path::PathBuf;
use std::time::Duration;

use arkor_tui::core::events::ExitStatus;
use arkor_tui::core::logs::{LogStore, LogStream};
use arkor_tui::core::supervisor::{ChildEvent, ChildEvents, SpawnSpec, SpawnedChild, Supervisor};

pub use crate::shared::WAIT;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/children")
}

/// `node <fixture> args…` in the fixtures directory.
pub fn node(script: &str, args: &[&str]) -> SpawnSpec {
    let mut spec = SpawnSpec::new("node", fixtures()).arg(fixtures().join(script));
    for arg in args {
        spec = spec.arg(*arg);
    }
    spec
}

pub struct Harness {
    pub sup: Supervisor,
    pub events: ChildEvents,
    pub logs: LogStore,
    /// Every event received so far, in order.
    pub seen: Vec<ChildEvent>,
}

impl Harness {
    pub fn new() -> Self {
        let logs = LogStore::new();
        let (sup, events) = Supervisor::with_events(logs.clone());
        Self {
            sup,
            events,
            logs,
            seen: Vec::new(),
        }
    }

    pub fn spawn(&self, spec: SpawnSpec) -> SpawnedChild {
        match self.sup.spawn(spec, None) {
            Ok(child) => child,
            Err(err) => panic!("spawn failed: {err}"),
        }
    }

    /// Receive events until one matches; panics after `WAIT`.
    pub async fn wait_for(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&ChildEvent) -> bool,
    ) -> ChildEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.events.recv()).await;
            match next {
                Ok(Some(event)) => {
                    self.seen.push(event.clone());
                    if pred(&event) {
                        return event;
                    }
                }
                Ok(None) => panic!("event channel closed while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}; seen: {:?}", self.seen),
            }
        }
    }

    pub async fn exited(&mut self, pid: u32) -> ExitStatus {
        match self
            .wait_for(
                "exit",
                |e| matches!(e, ChildEvent::Exited { pid: p, .. } if *p == pid),
            )
            .await
        {
            ChildEvent::Exited { status, .. } => status,
            _ => unreachable!(),
        }
    }

    pub async fn job_id(&mut self, pid: u32) -> String {
        match self
            .wait_for(
                "job id",
                |e| matches!(e, ChildEvent::JobId { pid: p, .. } if *p == pid),
            )
            .await
        {
            ChildEvent::JobId { id, .. } => id,
            _ => unreachable!(),
        }
    }

    /// Wait until a stored line of `pid` satisfies `pred`; returns it.
    pub async fn line(&mut self, pid: u32, mut pred: impl FnMut(&str) -> bool) -> String {
        loop {
            if let Some(found) = self.find_line(pid, &mut pred) {
                return found;
            }
            self.wait_for("log lines", |e| {
                matches!(e, ChildEvent::LogsAppended { pid: p } | ChildEvent::Exited { pid: p, .. } if *p == pid)
            })
            .await;
            if let Some(found) = self.find_line(pid, &mut pred) {
                return found;
            }
            if self
                .seen
                .iter()
                .any(|e| matches!(e, ChildEvent::Exited { pid: p, .. } if *p == pid))
            {
                panic!(
                    "pid {pid} exited without the expected line; log: {:?}",
                    self.lines(pid)
                );
            }
        }
    }

    fn find_line(&self, pid: u32, pred: &mut impl FnMut(&str) -> bool) -> Option<String> {
        self.logs.with(pid, |log| {
            log.and_then(|log| {
                log.lines()
                    .iter()
                    .find(|l| pred(&l.text))
                    .map(|l| l.text.clone())
            })
        })
    }

    pub fn lines(&self, pid: u32) -> Vec<(LogStream, String)> {
        self.logs.with(pid, |log| {
            log.map(|log| {
                log.lines()
                    .iter()
                    .map(|l| (l.stream, l.text.clone()))
                    .collect()
            })
            .unwrap_or_default()
        })
    }

    pub fn count(&self, pred: impl Fn(&ChildEvent) -> bool) -> usize {
        self.seen.iter().filter(|e| pred(e)).count()
    }
}

impl Drop for Harness {
    /// A failing test must not leave children behind.
    fn drop(&mut self) {
        for pid in self.sup.live_pids() {
            self.sup.force_stop(pid);
        }
    }
}

pub use crate::shared::{pgrp_of, pid_alive, wait_until};

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}
