//! Linux: the parent-death signal, a spawner thread that lives as long as the process, and
//! `/proc` for group membership.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;

use super::SpawnFailure;

/// Requested pipe capacity (the unprivileged maximum by default).
const PIPE_CAPACITY: libc::c_int = 1024 * 1024;

/// Own process group and SIGKILL on arkor's death, set between fork and exec, without the
/// race where arkor dies before `prctl` takes effect: the parent's pid is recorded before
/// the fork and compared afterwards.
fn isolate(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (setpgid, prctl, getppid, raise); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // Re-parented already: arkor died before prctl took effect.
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
}

struct SpawnRequest {
    command: Command,
    reply: mpsc::SyncSender<io::Result<Child>>,
}

/// Forks from one thread that lives as long as the process: `PR_SET_PDEATHSIG` fires when
/// the forking *thread* exits, so a short-lived thread would take its children with it.
pub(super) fn spawn_isolated(mut command: Command) -> Result<Child, SpawnFailure> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    isolate(&mut command);
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let started = thread::Builder::new()
            .name("arkor-spawner".into())
            .spawn(move || {
                for mut request in rx {
                    let _ = request.reply.send(request.command.spawn());
                }
            });
        match started {
            Ok(_) => Some(tx),
            Err(err) => {
                tracing::error!(%err, "could not start the spawner thread");
                None
            }
        }
    });
    let spawner = spawner.as_ref().ok_or(SpawnFailure::SpawnerUnavailable)?;
    let (reply, answer) = mpsc::sync_channel(1);
    spawner
        .send(SpawnRequest { command, reply })
        .map_err(|_| SpawnFailure::SpawnerUnavailable)?;
    match answer.recv() {
        Ok(result) => result.map_err(SpawnFailure::Io),
        Err(_) => Err(SpawnFailure::SpawnerUnavailable),
    }
}

/// Scans `/proc/<pid>/stat` for a non-zombie process in group `pgid`. `None` when `/proc`
/// cannot be read.
pub(super) fn group_has_live_member(pgid: u32) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Processes vanish while we scan; a missing file just means "not a member".
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else {
            continue;
        };
        if let Some((state, group)) = parse_stat(&stat)
            && group == pgid as i32
            && state != 'Z'
            && state != 'X'
        {
            return Some(true);
        }
    }
    Some(false)
}

/// `(state, pgrp)` from a `/proc/<pid>/stat` line. The command name is in parentheses and
/// may itself contain spaces and parentheses, so parse from the last `)`.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// `F_SETPIPE_SZ`; a failure (the per-user pipe memory limit) keeps the default 64 KiB.
pub(super) fn grow_pipe(fd: RawFd) {
    // SAFETY: F_SETPIPE_SZ on a pipe fd the caller owns; no memory is passed.
    let _ = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_CAPACITY) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_tricky_command_names() {
        assert_eq!(parse_stat("123 (node) S 1 123 123 0 -1"), Some(('S', 123)));
        assert_eq!(parse_stat("9 (a) b (c)) Z 1 77 77 0"), Some(('Z', 77)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
