//! floors: what the machine's parts cost alone (bare Rolldown, inotify, fork/exec), and the
//! product's build, hash and inspect stages measured one at a time.

use crate::bench::Bench;
use crate::micro;
use crate::report::{Report, floor_ms};

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("floors (bare Rolldown, inotify, spawn)");
    let floors = micro::floors(&bench.small.root, &bench.tools.node, bench.plan.runs).await;
    let f = match floors {
        Ok(f) => f,
        Err(e) => {
            report.notes.push(format!("floors: not measured: {e:#}"));
            return Ok(());
        }
    };
    let none = || "—".to_owned();
    report.info(
        "floor: bare Rolldown build, back to back (warm threads), 3 modules",
        &f.bare_rolldown_warm,
        none(),
    );
    report.info(
        "floor: bare Rolldown build (generate only) after 60 ms idle, 3 modules",
        &f.bare_rolldown,
        none(),
    );
    report.info(
        "floor: the same on one thread (one-thread rayon pool + current-thread runtime)",
        &f.bare_rolldown_one_thread,
        none(),
    );
    report.info("floor: raw notify event (write → event)", &f.notify, none());
    report.info(
        "floor: fork/exec + wait of `node -e 0`",
        &f.node_spawn,
        none(),
    );
    report.info(
        "floor: fork/exec + wait of `/bin/true`",
        &f.spawn_true,
        none(),
    );
    report.info(
        "stage alone: Builder::build (bundle + staging write + rename + hashes)",
        &f.builder,
        floor_ms(micro::best_bare(&f)),
    );
    report.info(
        "stage alone: contentHash + fingerprint of the artifact",
        &f.hash,
        none(),
    );
    report.info(
        "stage alone: inspection via the persistent Node helper",
        &f.inspect,
        // What a helper spawned per build would pay instead.
        format!("(`node` fork/exec: {})", floor_ms(f.node_spawn.median())),
    );
    bench.floors = Some(f);
    Ok(())
}
