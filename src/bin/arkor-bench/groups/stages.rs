//! stages: save → rebuild split into its stages, with the engine and server in this process.

use crate::bench::Bench;
use crate::micro;
use crate::report::{Report, floor_ms};

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("save → rebuild, per stage (library engine + server in-process)");
    let bare = bench.bare_build_floor();
    let notify_floor = bench.floors.as_ref().and_then(|f| f.notify.median());
    match micro::stages(
        &mut bench.small,
        &bench.tools.node,
        bench.plan.warmup,
        bench.plan.runs,
    )
    .await
    {
        Ok(st) => {
            let none = || "—".to_owned();
            report.info(
                "stage: watcher event (write → inotify, separate watcher)",
                &st.watcher,
                floor_ms(notify_floor),
            );
            report.info(
                "stage: Rolldown build + atomic write + hashes (engine's build loop)",
                &st.build_write_hash,
                floor_ms(bare),
            );
            report.info(
                "stage: inspect (Node helper round trip)",
                &st.inspect,
                none(),
            );
            report.info(
                "stage: plumbing (notify → build loop → engine hops, dispatch, publish on the dev bus)",
                &st.plumbing,
                none(),
            );
            report.info(
                "stage: dev bus → SSE frame at a loopback client",
                &st.sse,
                none(),
            );
            report.info(
                "in-process total: save → SSE `rebuild` (same runs)",
                &st.total,
                none(),
            );
        }
        Err(e) => report.failed("save → rebuild per stage", "—", e),
    }
    Ok(())
}
