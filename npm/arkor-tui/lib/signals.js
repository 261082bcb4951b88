'use strict';
// Which signals the launcher passes on to arkor tui, and when.
//
// arkor tui treats a second SIGINT / SIGTERM / SIGHUP as "force stop now" (runs are killed and
// lose their checkpoint), so each signal meant for it must arrive once, not once per path:
//
// - With a controlling terminal the binary shares the launcher's process group (it needs the
//   terminal). The terminal sends Ctrl-C (SIGINT), Ctrl-\ (SIGQUIT) and a hang-up (SIGHUP) to
//   the whole foreground group, so the binary has those already: while the launcher is in the
//   foreground they are not passed on. Anything else the launcher receives is.
// - Without one (CI, a supervisor, a container) the binary gets a session of its own, so a
//   signal sent to the launcher's whole group reaches it only through the launcher.
// - npm (`npx`, `npm run`) relays the SIGINT / SIGTERM it receives to the launcher, which may
//   have received the same signal itself: a repeat of one signal within a moment is one signal.
//
// A gap remains: with a terminal attached, a signal sent to the whole group by something other
// than the terminal (`timeout`, `kill -- -PGID`) reaches the binary directly and is passed on.

const fs = require('node:fs');
const { execFile } = require('node:child_process');

/** Signals the launcher handles (SIGUSR1 is Node's debugger signal and is left alone). */
const HANDLED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

/** Signals a terminal sends to its whole foreground process group. */
const TERMINAL_SIGNALS = new Set(['SIGINT', 'SIGQUIT', 'SIGHUP']);

/** A repeat of the same signal within this many milliseconds is the same signal. */
const REPEAT_WINDOW_MS = 200;

/** Pass `signal` on? `foreground`: the launcher is in its terminal's foreground process group. */
function shouldForward(signal, foreground) {
  return !(foreground && TERMINAL_SIGNALS.has(signal));
}

/** Drops a signal seen less than `windowMs` ago: `isRepeat(signal, nowMs)`. */
function repeatFilter(windowMs = REPEAT_WINDOW_MS) {
  const last = new Map();
  return (signal, now) => {
    const previous = last.get(signal);
    last.set(signal, now);
    return previous !== undefined && now - previous < windowMs;
  };
}

/**
 * Linux `/proc/<pid>/stat`: the process's terminal. After the command name (which may hold
 * spaces and parentheses) come state, ppid, pgrp, session, tty_nr and tpgid; tty_nr is 0
 * without a controlling terminal, tpgid is the terminal's foreground group (-1 without one).
 */
function terminalFromProcStat(stat) {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(fields[2]);
  const ttyNr = Number(fields[4]);
  const tpgid = Number(fields[5]);
  return {
    controlling: ttyNr !== 0,
    foreground: ttyNr !== 0 && tpgid > 0 && tpgid === pgrp,
  };
}

/** `ps -o pgid=,tpgid=` output (macOS): is the process in the foreground group? */
function foregroundFromPs(output) {
  const [pgid, tpgid] = output.trim().split(/\s+/).map(Number);
  return Number.isInteger(tpgid) && tpgid > 0 && tpgid === pgid;
}

function hasControllingTerminal() {
  try {
    fs.closeSync(fs.openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return false;
  }
}

/**
 * This process's terminal: `controlling` (read once) and `isForeground()`, read again on
 * SIGCONT, when job control (`fg`, `bg`) may have moved the job. On Linux from /proc; elsewhere
 * through `ps`, and until it answers a controlling terminal counts as foreground.
 */
function terminalTracker() {
  const state = { controlling: false, foreground: false };
  const refresh = () => {
    if (process.platform === 'linux') {
      try {
        Object.assign(state, terminalFromProcStat(fs.readFileSync('/proc/self/stat', 'utf8')));
      } catch {
        // Keep what was known.
      }
      return;
    }
    const ps = execFile('ps', ['-o', 'pgid=,tpgid=', '-p', String(process.pid)], (error, out) => {
      if (!error) state.foreground = state.controlling && foregroundFromPs(out);
    });
    ps.on('error', () => {});
    ps.unref();
  };
  if (process.platform !== 'linux') {
    state.controlling = hasControllingTerminal();
    state.foreground = state.controlling;
  }
  refresh();
  process.on('SIGCONT', refresh);
  return {
    controlling: state.controlling,
    isForeground: () => state.foreground,
    stop: () => process.removeListener('SIGCONT', refresh),
  };
}

module.exports = {
  HANDLED,
  TERMINAL_SIGNALS,
  REPEAT_WINDOW_MS,
  shouldForward,
  repeatFilter,
  terminalFromProcStat,
  foregroundFromPs,
  terminalTracker,
};
