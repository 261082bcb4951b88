//! Copying log lines to the system clipboard through the terminal: OSC 52, which works over
//! SSH and inside tmux (with its default `set-clipboard external`), with no clipboard tool.
//! Only the lines the user selected are copied, as plain text: never the timeline beside
//! them, which a mouse selection in the terminal would take along.

/// The escape that puts `text` on the clipboard.
pub fn osc52(text: &str) -> String {
    format!("\u{1b}]52;c;{}\u{7}", base64(text.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn the_escape_is_osc_52_for_the_clipboard() {
        assert_eq!(osc52("hi\n"), "\u{1b}]52;c;aGkK\u{7}");
    }
}
