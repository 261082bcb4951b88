//! Terminal setup and restore. The terminal is given back on every way out: normal return
//! (guard), `?` errors (guard), panics (hook, also under `panic = "abort"`), signals (the
//! loop returns and the guard runs), and Ctrl-Z (restored before stopping, re-entered after).

use std::io::{self, Stdout, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::{Hide, Show};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type CrosstermTerminal = Terminal<CrosstermBackend<TerminalOut>>;

/// Stdout that becomes a sink once the terminal is gone (EIO after a hang-up, or a broken
/// pipe). Nothing can be shown any more, and ratatui's `Terminal` drop would otherwise
/// `eprintln!` its failure to show the cursor on the same dead terminal, which panics and
/// skips the shutdown that early-stops the runs.
pub struct TerminalOut {
    out: Stdout,
}

/// Set once a write found the terminal gone.
static TERMINAL_GONE: AtomicBool = AtomicBool::new(false);

impl TerminalOut {
    fn new() -> Self {
        Self { out: io::stdout() }
    }

    fn absorb<T>(result: io::Result<T>, ok: T) -> io::Result<T> {
        match result {
            Err(e) if is_terminal_gone(&e) => {
                if !TERMINAL_GONE.swap(true, Ordering::SeqCst) {
                    tracing::warn!("the terminal is gone ({e}); drawing stops");
                }
                Ok(ok)
            }
            other => other,
        }
    }
}

impl Write for TerminalOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if TERMINAL_GONE.load(Ordering::SeqCst) {
            return Ok(buf.len());
        }
        Self::absorb(self.out.write(buf), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if TERMINAL_GONE.load(Ordering::SeqCst) {
            return Ok(());
        }
        Self::absorb(self.out.flush(), ())
    }
}

/// The terminal hung up: a write failed on it, or the tty reports POLLHUP. A hang-up does not
/// always come with a SIGHUP for us (a wrapper shell may take it), so the loop asks.
pub fn hung_up() -> bool {
    if TERMINAL_GONE.load(Ordering::SeqCst) {
        return true;
    }
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd on our stack, count 1, no wait.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR) != 0
}

fn is_terminal_gone(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EIO) || e.kind() == io::ErrorKind::BrokenPipe
}

/// Whether we changed the terminal and have not given it back yet.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// Restore the terminal first, then let the previous hook print the panic on a sane screen.
/// A panic on the build thread is caught there (the dashboard keeps running): it goes to the
/// log only.
pub fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if crate::core::build::is_build_thread() {
                tracing::error!("caught on the build thread: {info}");
                return;
            }
            restore();
            previous(info);
        }));
    });
}

fn setup() -> io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    // Bracketed paste: a pasted prompt arrives whole, its line breaks never send it.
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        Hide
    )
}

/// Raw mode, alternate screen, mouse capture, bracketed paste; a guard that undoes them on drop.
pub fn enter() -> io::Result<(CrosstermTerminal, RestoreGuard)> {
    install_panic_hook();
    let guard = RestoreGuard;
    setup()?;
    let terminal = Terminal::new(CrosstermBackend::new(TerminalOut::new()))?;
    Ok((terminal, guard))
}

/// Undo everything `enter` did. Idempotent and safe to call from a panic hook.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = execute!(
            out,
            DisableBracketedPaste,
            DisableMouseCapture,
            LeaveAlternateScreen,
            Show
        );
        let _ = disable_raw_mode();
        let _ = out.flush();
    }
}

pub struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Ctrl-Z: give the terminal back, stop like any job, and take it again on `fg`.
pub fn suspend(terminal: &mut CrosstermTerminal) -> io::Result<()> {
    restore();
    // Raw mode turned ISIG off, so the key did not stop us: stop our whole process group, as
    // the terminal's Ctrl-Z would. Alone, a launcher that started us (`npx arkor-tui`: npm and
    // Node in our group) would keep running and the shell would never see the job stop. Runs
    // live in their own process groups and keep training.
    nix::sys::signal::killpg(nix::unistd::getpgrp(), nix::sys::signal::Signal::SIGTSTP)
        .map_err(io::Error::from)?;
    setup()?;
    terminal.clear()
}

/// Write a raw escape (notifications) between frames.
pub fn write_raw(terminal: &mut CrosstermTerminal, bytes: &str) -> io::Result<()> {
    let out = terminal.backend_mut();
    out.write_all(bytes.as_bytes())?;
    out.flush()
}
