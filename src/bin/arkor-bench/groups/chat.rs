//! chat: the Playground's first streamed token, from the loopback socket to the drawn frame.

use crate::bench::Bench;
use crate::report::{Report, at_most};

/// The first token on screen at most this long after it reached the machine.
const TARGET_MS: f64 = 5.0;

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("playground: first streamed chat token");
    let figure = "Playground: first chat token, reply frame on the socket → drawn";
    match crate::chat::first_token(&bench.tools.root, bench.plan.runs).await {
        Ok(samples) => {
            let verdict = at_most(samples.median(), TARGET_MS);
            report.latency(figure, &samples, "—".into(), None, "", "≤ 5 ms", verdict);
        }
        Err(e) => report.failed(figure, "≤ 5 ms", e),
    }
    Ok(())
}
