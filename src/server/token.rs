//! The per-launch studio token: generation, constant-time comparison, and the shared
//! `~/.arkor/studio-token` file (written atomically with mode 0600, removed on shutdown only
//! while it still holds this process's token).

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use subtle::ConstantTimeEq;

/// Bytes of entropy in a generated token (the reference uses 32 random bytes, base64url).
const TOKEN_BYTES: usize = 32;

/// A fresh random token: 32 random bytes, base64url without padding (43 chars).
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64url(&bytes)
}

/// Constant-time equality. A length mismatch rejects at once (the length is not secret).
pub fn tokens_match(provided: &[u8], expected: &[u8]) -> bool {
    provided.len() == expected.len() && bool::from(provided.ct_eq(expected))
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for s in sextets.iter().take(chunk.len() + 1) {
            out.push(char::from(ALPHABET[*s as usize]));
        }
    }
    out
}

/// `$HOME/.arkor/studio-token`, or `None` when `HOME` is unset or empty.
pub fn default_token_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".arkor").join("studio-token"))
}

/// Write `token` to `path` atomically: a unique 0600 temp file in the same folder, then a
/// rename over the target, so readers see the old complete token or the new complete one.
pub fn persist_token(path: &Path, token: &str) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "token path has no folder"))?;
    fs::create_dir_all(dir)?;
    let mut suffix = [0u8; 8];
    rand::rng().fill_bytes(&mut suffix);
    let tmp = sibling(
        path,
        &format!(".{}.{}.tmp", std::process::id(), base64url(&suffix)),
    );
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(token.as_bytes())?;
        // The create mode is masked by umask (never wider); chmod makes it exactly 0600.
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// What [`remove_token_if_ours`] found at the path.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenRemoval {
    /// The file held our token and is gone.
    Removed,
    /// No file (never written, or already cleaned up).
    Absent,
    /// Another process's token: left in place.
    Foreign,
}

/// Remove the token file only if it still holds `expected`. The file is claimed first by an
/// atomic rename to a private path, so a concurrent writer's fresh token can never be deleted
/// between our read and our unlink; a foreign token is put back without clobbering a newer
/// one (`link` fails with EEXIST if the path reappeared).
pub fn remove_token_if_ours(path: &Path, expected: &str) -> TokenRemoval {
    let reap = sibling(path, &format!(".reap-{}", std::process::id()));
    if fs::rename(path, &reap).is_err() {
        return TokenRemoval::Absent;
    }
    let mut claimed = String::new();
    let read = fs::File::open(&reap).and_then(|mut f| f.read_to_string(&mut claimed));
    if read.is_err() {
        let _ = fs::remove_file(&reap);
        return TokenRemoval::Removed;
    }
    if tokens_match(claimed.trim().as_bytes(), expected.as_bytes()) {
        let _ = fs::remove_file(&reap);
        return TokenRemoval::Removed;
    }
    match fs::hard_link(&reap, path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        // No hard links on this filesystem: restore unless someone rewrote the path.
        Err(_) => {
            if !path.exists() && fs::rename(&reap, path).is_ok() {
                return TokenRemoval::Foreign;
            }
        }
    }
    let _ = fs::remove_file(&reap);
    TokenRemoval::Foreign
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff, 0xfe]), "-__-");
    }

    #[test]
    fn generated_tokens_are_43_url_safe_chars_and_distinct() {
        let a = generate_token();
        let b = generate_token();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn comparison_rejects_length_mismatch_and_one_byte_off() {
        assert!(tokens_match(b"abcdef", b"abcdef"));
        assert!(!tokens_match(b"abcde", b"abcdef"));
        assert!(!tokens_match(b"abcdeg", b"abcdef"));
        assert!(!tokens_match(b"", b"abcdef"));
    }
}
