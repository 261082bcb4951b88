//! BENCHMARKS.md: machine, method, and one row per figure.

use std::fmt::Write as _;

use crate::stats::Samples;

/// One line of the results table.
pub struct Row {
    pub figure: String,
    pub n: usize,
    pub median: String,
    pub p95: String,
    pub floor: String,
    pub peer: String,
    pub target: String,
    pub verdict: Verdict,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Verdict {
    Pass,
    /// Missed by this factor (measured / target).
    Miss(f64),
    /// No target for this figure (context, floor, or growth).
    Info,
    Failed,
}

impl Verdict {
    fn text(self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            Verdict::Miss(f) => format!("**miss** ({:.1}× target)", f),
            Verdict::Info => "—".into(),
            Verdict::Failed => "**not measured**".into(),
        }
    }
}

pub fn f2(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "—".into(),
    }
}

/// `ms` median / p95 text of a sample set.
pub fn ms_pair(s: &Samples) -> (String, String) {
    (
        s.median()
            .map(|v| format!("{} ms", f2(Some(v))))
            .unwrap_or("—".into()),
        s.p95()
            .map(|v| format!("{} ms", f2(Some(v))))
            .unwrap_or("—".into()),
    )
}

/// Verdict for "value ≤ limit" (lower is better).
pub fn at_most(value: Option<f64>, limit: f64) -> Verdict {
    match value {
        None => Verdict::Failed,
        Some(v) if v <= limit => Verdict::Pass,
        Some(v) => Verdict::Miss(v / limit),
    }
}

/// Verdict for "value ≥ limit" (higher is better).
pub fn at_least(value: Option<f64>, limit: f64) -> Verdict {
    match value {
        None => Verdict::Failed,
        Some(v) if v >= limit => Verdict::Pass,
        Some(v) => Verdict::Miss(limit / v.max(f64::MIN_POSITIVE)),
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| figure | N | median | p95 | floor | peer (ratio ours/peer) | target | result |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.figure,
            r.n,
            r.median,
            r.p95,
            r.floor,
            r.peer,
            r.target,
            r.verdict.text()
        );
    }
    out
}
