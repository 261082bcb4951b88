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

/// Inside tmux, OSC sequences reach the outer terminal only through tmux's passthrough
/// (`ESC P tmux; … ESC \`, with every ESC doubled; tmux ≥ 3.3 also needs
/// `allow-passthrough on`). The bell is left outside: tmux handles it itself.
pub fn for_tmux(escape: &str) -> String {
    let (bell, osc) = match escape.strip_prefix('\u{7}') {
        Some(rest) => ("\u{7}", rest),
        None => ("", escape),
    };
    format!(
        "{bell}\u{1b}Ptmux;{}\u{1b}\\",
        osc.replace('\u{1b}', "\u{1b}\u{1b}")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmux_passthrough_doubles_escapes_and_keeps_the_bell_outside() {
        assert_eq!(
            for_tmux("\u{7}\u{1b}]9;a: b\u{7}"),
            "\u{7}\u{1b}Ptmux;\u{1b}\u{1b}]9;a: b\u{7}\u{1b}\\"
        );
    }

    #[test]
    fn escapes_are_terminated_and_sanitised() {
        let s = notification_escape("arkor", "run 12 done\u{7}\u{1b}]0;x");
        assert_eq!(
            s,
            "\u{7}\u{1b}]9;arkor: run 12 done]0x\u{7}\u{1b}]777;notify;arkor;run 12 done]0x\u{7}"
        );
    }
}
