//! The results of a session: one row per figure and the notes, collected as groups measure.
//! (`markdown.rs` turns them into BENCHMARKS.md.)

use std::fmt::Write as _;
use std::time::Instant;

use crate::stats::Samples;

/// Collects rows and notes as figures come in.
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub started: Instant,
}

impl Report {
    pub fn new() -> Self {
        Report {
            rows: Vec::new(),
            notes: Vec::new(),
            started: Instant::now(),
        }
    }

    pub fn progress(&self, what: &str) {
        eprintln!("[{:>6.1}s] {what}", self.started.elapsed().as_secs_f64());
    }

    /// A figure that could not be measured: a row that says so, and the error in the notes.
    pub fn failed(&mut self, figure: &str, target: &str, error: anyhow::Error) {
        eprintln!("arkor-bench: {figure}: {error:#}");
        self.notes
            .push(format!("{figure}: not measured: {error:#}"));
        self.rows.push(Row {
            figure: figure.into(),
            n: 0,
            median: "—".into(),
            p95: "—".into(),
            floor: "—".into(),
            peer: "—".into(),
            target: target.into(),
            verdict: Verdict::Failed,
        });
    }

    /// The `?` → help overlay row `during` some load (≤ 50 ms; any unanswered press misses).
    pub fn key_latency(&mut self, during: &str, latency: &Samples, unanswered: usize) {
        self.latency(
            &format!("key `?` → help overlay drawn, {during} ({unanswered} unanswered)"),
            latency,
            "—".into(),
            None,
            "",
            "≤ 50 ms",
            key_latency_verdict(latency, unanswered),
        );
    }

    /// A row of median / p95 milliseconds, with the peer's figures and ratio when measured.
    #[allow(clippy::too_many_arguments)]
    pub fn latency(
        &mut self,
        figure: &str,
        samples: &Samples,
        floor: String,
        peer: Option<&Samples>,
        peer_name: &str,
        target: &str,
        verdict: Verdict,
    ) {
        let (median, p95) = ms_pair(samples);
        let peer = match (peer, samples.median()) {
            (Some(p), Some(ours)) => match p.median() {
                Some(theirs) => format!(
                    "{peer_name} {} / {} ms ({:.2}×)",
                    f2(Some(theirs)),
                    f2(p.p95()),
                    ours / theirs
                ),
                None => "—".into(),
            },
            _ => "—".into(),
        };
        self.rows.push(Row {
            figure: figure.into(),
            n: samples.len(),
            median,
            p95,
            floor,
            peer,
            target: target.into(),
            verdict,
        });
    }

    /// A latency row with no peer and no target: context for the figures that have one.
    pub fn info(&mut self, figure: &str, samples: &Samples, floor: String) {
        self.latency(figure, samples, floor, None, "", "—", Verdict::Info);
    }

    /// Note the `error` frames that arrived before a save's `rebuild`.
    pub fn note_errors(&mut self, what: &str, errors: &[String]) {
        if let Some(first) = errors.first() {
            let short: String = first.chars().take(300).collect();
            self.notes.push(format!(
                "{what}: {} `error` frame(s) arrived before a save's `rebuild` (a build that read a half-written file was reported); first: {short}",
                errors.len()
            ));
        }
    }
}

/// A row of one value (N = 1).
pub fn single(figure: &str, value: f64, unit: &str, target: &str, verdict: Verdict) -> Row {
    Row {
        figure: figure.into(),
        n: 1,
        median: format!("{value:.3} {unit}"),
        p95: "—".into(),
        floor: "—".into(),
        peer: "—".into(),
        target: target.into(),
        verdict,
    }
}

/// The floor column's text for a floor in ms.
pub fn floor_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{} ms", f2(Some(v))))
        .unwrap_or("—".into())
}

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

/// Verdict for key presses: a press never answered misses, else the p95 against 50 ms.
fn key_latency_verdict(latency: &crate::stats::Samples, unanswered: usize) -> Verdict {
    if unanswered > 0 {
        Verdict::Miss(f64::INFINITY)
    } else {
        at_most(latency.p95(), 50.0)
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
