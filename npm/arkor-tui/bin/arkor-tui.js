#!/usr/bin/env node
'use strict';
// `arkor-tui`: run the prebuilt arkor tui binary for this machine with the given arguments,
// pass signals on (lib/signals.js says which, and why), and end the way the binary ended:
// with its exit code, or killed by the same signal.

const { spawn } = require('node:child_process');
const os = require('node:os');
const platform = require('../lib/platform.js');
const signals = require('../lib/signals.js');
const { repository } = require('../package.json');

function fail(message) {
  process.stderr.write(`arkor-tui: ${message}\n`);
  process.exit(1);
}

const repositoryUrl = repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
const found = platform.findBinary(platform.currentRuntime(), platform.resolveFromHere, {
  fromSource: platform.fromSourceHint(repositoryUrl),
});
if (found.error) fail(found.error);

const terminal = signals.terminalTracker();
const child = spawn(found.binary, process.argv.slice(2), {
  stdio: 'inherit',
  // Without a terminal, a session of its own: then signals reach it only through here.
  detached: !terminal.controlling,
  // Lets the binary end with the launcher should the launcher be killed outright.
  env: { ...process.env, ARKOR_TUI_LAUNCHER_PID: String(process.pid) },
});

const isRepeat = signals.repeatFilter();
const forward = (signal) => {
  if (isRepeat(signal, performance.now())) return;
  if (signals.shouldForward(signal, terminal.isForeground())) child.kill(signal);
};
for (const signal of signals.HANDLED) process.on(signal, forward);

child.on('error', (error) => fail(`cannot run ${found.binary}: ${error.message}`));
child.on('exit', (code, signal) => {
  for (const handled of signals.HANDLED) process.removeListener(handled, forward);
  terminal.stop();
  if (signal === null) process.exit(code);
  // Die of the same signal, so a shell or supervisor sees what happened (with the handler
  // gone the default action applies); should it not end us, exit as a shell would report it.
  process.kill(process.pid, signal);
  setTimeout(() => process.exit(128 + (os.constants.signals[signal] ?? 0)), 1000);
});
