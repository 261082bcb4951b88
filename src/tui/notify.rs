//! "Your run ended" for a user in another window: a terminal bell plus the desktop
//! notification escapes OSC 9 (iTerm2, Windows Terminal, kitty, WezTerm) and OSC 777
//! (urxvt, foot, Ghostty, VTE). Terminals ignore the ones they do not know; tmux turns the
//! bell into a window alert.

/// The bytes to write for one notification. Control characters in `message` are removed so
/// it cannot end the escape early.
pub fn notification_escape(title: &str, message: &str) -> String {
    let clean =
        |s: &str| -> String { s.chars().filter(|c| !c.is_control() && *c != ';').collect() };
    let title = clean(title);
    let message = clean(message);
    format!("\u{7}\u{1b}]9;{title}: {message}\u{7}\u{1b}]777;notify;{title};{message}\u{7}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_terminated_and_sanitised() {
        let s = notification_escape("arkor", "run 12 done\u{7}\u{1b}]0;x");
        assert_eq!(
            s,
            "\u{7}\u{1b}]9;arkor: run 12 done]0x\u{7}\u{1b}]777;notify;arkor;run 12 done]0x\u{7}"
        );
    }
}
