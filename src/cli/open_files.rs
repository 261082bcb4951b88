//! The open-file limit. Shells often start programs with a soft limit of 1,024 descriptors
//! while the hard limit allows far more; a dev console holding browser connections, event
//! streams, a watcher, the inspector, runs' pipes and a bundler reading the whole module
//! graph can use that many, so arkor raises the soft limit to the hard one at start (the
//! server derives its connection cap from the result).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Raise the soft `RLIMIT_NOFILE` to the hard limit. Returns the soft limit before and after.
pub fn raise_open_file_limit() -> nix::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= hard {
        return Ok((soft, soft));
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok((soft, hard))
}
