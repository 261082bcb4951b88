//! Why a run failed, in one line, from the end of its output: what the timeline and the
//! banner say instead of only "exit 1".

use crate::core::logs::{LogLine, LogStream};

/// How far back from the end the reason is looked for.
const LOOKBACK: usize = 40;
/// A reason longer than this is cut (the log pane has the whole text).
const MAX_CHARS: usize = 160;

/// The line that best says why the output ended in failure: the last error-looking line of
/// stderr (`Error: …`, `TypeError: …`, `error: …`), else stderr's last line, else `None`.
/// Stack frames (`    at …`) are never the reason.
pub fn reason<'a>(lines: impl DoubleEndedIterator<Item = &'a LogLine>) -> Option<String> {
    let tail: Vec<&LogLine> = lines
        .rev()
        .filter(|l| l.stream == LogStream::Stderr)
        .filter(|l| {
            let text = l.text.trim();
            !text.is_empty() && !text.starts_with("at ") && !text.starts_with('^')
        })
        .take(LOOKBACK)
        .collect();
    let pick = tail
        .iter()
        .find(|l| looks_like_an_error(&l.text))
        .or(tail.first())?;
    Some(cut(pick.text.trim()))
}

fn looks_like_an_error(text: &str) -> bool {
    let text = text.trim_start();
    let head = text.split(':').next().unwrap_or("");
    (head.ends_with("Error") || head.ends_with("error") || head.ends_with("Exception"))
        && !head.contains(' ')
        && text.contains(':')
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_CHARS {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_CHARS - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(spec: &[(LogStream, &str)]) -> Vec<LogLine> {
        spec.iter()
            .enumerate()
            .map(|(i, (stream, text))| LogLine {
                seq: i as u64,
                stream: *stream,
                text: (*text).to_string(),
                at: std::time::SystemTime::UNIX_EPOCH,
            })
            .collect()
    }

    #[test]
    fn the_error_line_wins_over_the_stack_and_later_noise() {
        let log = lines(&[
            (LogStream::Stdout, "step 3 loss=1.2"),
            (
                LogStream::Stderr,
                "TypeError: Cannot read properties of undefined (reading 'x')",
            ),
            (
                LogStream::Stderr,
                "    at onLog (file:///p/.arkor/build/index.mjs:12:5)",
            ),
            (LogStream::Stderr, "Node.js v20.20.2"),
        ]);
        assert_eq!(
            reason(log.iter()).as_deref(),
            Some("TypeError: Cannot read properties of undefined (reading 'x')")
        );
    }

    #[test]
    fn without_an_error_line_the_last_stderr_line_is_the_reason() {
        let log = lines(&[
            (LogStream::Stderr, "could not reach the cloud"),
            (LogStream::Stdout, "bye"),
        ]);
        assert_eq!(
            reason(log.iter()).as_deref(),
            Some("could not reach the cloud")
        );
        let quiet = lines(&[(LogStream::Stdout, "Error: only on stdout")]);
        assert_eq!(reason(quiet.iter()), None);
    }

    #[test]
    fn a_long_reason_is_cut() {
        let long = format!("Error: {}", "x".repeat(400));
        let log = lines(&[(LogStream::Stderr, long.as_str())]);
        let got = reason(log.iter()).expect("a reason");
        assert_eq!(got.chars().count(), MAX_CHARS);
        assert!(got.ends_with('…'));
    }
}
