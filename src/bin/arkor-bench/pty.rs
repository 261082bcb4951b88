//! Drive a full-screen program in a pseudo-terminal: spawn it, feed keys, and stamp when
//! given bytes first appear in its output (first frame, key answered).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::pty::{Winsize, openpty};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::screen::Screen;

/// Output kept for matching; older bytes are dropped (offsets stay absolute).
const KEEP_BYTES: usize = 1 << 20;

#[derive(Default)]
struct Output {
    /// Bytes from absolute offset `base` on.
    buf: Vec<u8>,
    base: usize,
    /// (absolute end offset, when that read returned), oldest first.
    reads: VecDeque<(usize, Instant)>,
    closed: bool,
}

impl Output {
    fn end(&self) -> usize {
        self.base + self.buf.len()
    }

    fn append(&mut self, bytes: &[u8], at: Instant) {
        self.buf.extend_from_slice(bytes);
        let end = self.end();
        self.reads.push_back((end, at));
        if self.buf.len() > 4 * KEEP_BYTES {
            let drop = self.buf.len() - KEEP_BYTES;
            self.buf.drain(..drop);
            self.base += drop;
            while self.reads.front().is_some_and(|(e, _)| *e < self.base) {
                self.reads.pop_front();
            }
        }
    }

    /// The bytes from `from` on, read by read: each read's part with when it returned.
    fn reads_since(&self, from: usize) -> Vec<(Vec<u8>, Instant)> {
        let mut start = from.max(self.base);
        let mut parts = Vec::new();
        for &(end, at) in &self.reads {
            if end > start {
                parts.push((self.buf[start - self.base..end - self.base].to_vec(), at));
                start = end;
            }
        }
        parts
    }

    /// When `needle` (starting at or after `from`) was first complete.
    fn find(&self, needle: &[u8], from: usize) -> Option<Instant> {
        let start = from.max(self.base) - self.base;
        let pos = crate::http::find(&self.buf[start..], needle)?;
        let complete = self.base + start + pos + needle.len();
        self.reads
            .iter()
            .find(|(end, _)| *end >= complete)
            .map(|(_, at)| *at)
    }
}

pub struct PtyApp {
    child: Child,
    master: File,
    output: Arc<(Mutex<Output>, Condvar)>,
    pub spawned_at: Instant,
}

impl PtyApp {
    pub fn spawn(
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        cwd: &Path,
        cols: u16,
        rows: u16,
    ) -> anyhow::Result<Self> {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).context("openpty")?;
        let slave: OwnedFd = pty.slave;
        let stdio = |fd: &OwnedFd| -> anyhow::Result<Stdio> { Ok(Stdio::from(fd.try_clone()?)) };
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(cwd)
            .env("TERM", "xterm-256color")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(stdio(&slave)?)
            .stdout(stdio(&slave)?)
            .stderr(stdio(&slave)?);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        drop(slave);
        let master = File::from(pty.master);
        let output: Arc<(Mutex<Output>, Condvar)> = Arc::default();
        let mut reader = master.try_clone()?;
        let shared = output.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let at = Instant::now();
                let (lock, cvar) = &*shared;
                let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    out.closed = true;
                    cvar.notify_all();
                    return;
                }
                out.append(&buf[..n], at);
                cvar.notify_all();
            }
        });
        Ok(Self {
            child,
            master,
            output,
            spawned_at,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The current end of the output (pass to [`PtyApp::wait_for`] as `from`).
    pub fn mark(&self) -> usize {
        let (lock, _) = &*self.output;
        lock.lock().unwrap_or_else(|e| e.into_inner()).end()
    }

    /// When `needle` appeared at or after `from`; `None` after `timeout` or when the
    /// program closed its terminal.
    pub fn wait_for(&self, needle: &[u8], from: usize, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.output;
        let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(at) = out.find(needle, from) {
                return Some(at);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if out.closed || left.is_zero() {
                return None;
            }
            out = cvar
                .wait_timeout(out, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Feed `screen` what the program wrote since the screen last saw, read by read, until
    /// `done` (given the screen at the end of a frame, and when the read that ended the frame
    /// returned) holds: when that read returned. `None` after `timeout`
    /// or when the program closed its terminal. Fails when output the screen had not seen yet
    /// was already dropped.
    pub fn wait_screen(
        &self,
        screen: &mut Screen,
        timeout: Duration,
        mut done: impl FnMut(&Screen, Instant) -> bool,
    ) -> anyhow::Result<Option<Instant>> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.output;
        loop {
            // Copied out under the lock, applied without it: the reader thread stamps reads
            // before it locks, but a long hold would leave the program blocked on a full pty.
            let (parts, closed) = {
                let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
                if out.end() == screen.fed && !out.closed {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    out = cvar
                        .wait_timeout(out, left)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                if out.base > screen.fed {
                    anyhow::bail!("output was dropped before the screen model read it");
                }
                (out.reads_since(screen.fed), out.closed)
            };
            for (bytes, at) in parts {
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    rest = &rest[screen.feed(rest)..];
                    if screen.at_frame_end() && done(screen, at) {
                        return Ok(Some(at));
                    }
                }
            }
            if closed || Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// A second handle on the terminal's input, for keys sent from another thread.
    pub fn key_writer(&self) -> anyhow::Result<File> {
        Ok(self.master.try_clone()?)
    }

    /// Write `bytes` to the program's input; when the write began. (Stamped before: on a busy
    /// machine the write can wake the program and this thread run again only once it has
    /// answered, and a stamp taken after would leave that time out.)
    pub fn send(&mut self, bytes: &[u8]) -> anyhow::Result<Instant> {
        let at = Instant::now();
        self.master.write_all(bytes)?;
        Ok(at)
    }

    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Wait up to `grace` for a clean exit, then SIGKILL the session.
    pub fn finish(mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }

    fn kill(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PtyApp {
    fn drop(&mut self) {
        if !self.exited() {
            self.kill();
        }
    }
}
