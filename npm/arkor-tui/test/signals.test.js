'use strict';
// The launcher's signal policy as pure functions; test/launcher.test.js drives real processes.

const test = require('node:test');
const assert = require('node:assert/strict');
const signals = require('../lib/signals.js');

test('in the terminal\'s foreground, the terminal\'s own signals are not passed on', () => {
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGHUP']) {
    assert.equal(signals.shouldForward(signal, true), false, signal);
    assert.equal(signals.shouldForward(signal, false), true, signal);
  }
  for (const signal of ['SIGTERM', 'SIGUSR2']) {
    assert.equal(signals.shouldForward(signal, true), true, signal);
    assert.equal(signals.shouldForward(signal, false), true, signal);
  }
  for (const signal of signals.TERMINAL_SIGNALS) {
    assert.ok(signals.HANDLED.includes(signal), `${signal} is handled, so it never kills the launcher`);
  }
  assert.ok(!signals.HANDLED.includes('SIGUSR1'), 'SIGUSR1 stays Node\'s debugger signal');
});

test('a repeat of one signal within the window counts once', () => {
  const isRepeat = signals.repeatFilter(200);
  assert.equal(isRepeat('SIGTERM', 1000), false);
  assert.equal(isRepeat('SIGTERM', 1001), true, 'npm relays what the launcher got itself');
  assert.equal(isRepeat('SIGINT', 1002), false, 'another signal is not a repeat');
  assert.equal(isRepeat('SIGTERM', 1150), true, 'the window runs from the latest copy');
  assert.equal(isRepeat('SIGTERM', 1400), false, 'a second Ctrl-C a moment later counts');
});

test('/proc/<pid>/stat gives the controlling terminal and the foreground group', () => {
  // pid (comm) state ppid pgrp session tty_nr tpgid flags …; comm may hold ") ".
  const stat = (pgrp, ttyNr, tpgid) =>
    `4242 (node (a) b) S 4000 ${pgrp} 4000 ${ttyNr} ${tpgid} 4194560 120 0 0 0\n`;
  assert.deepEqual(signals.terminalFromProcStat(stat(4100, 34816, 4100)), {
    controlling: true,
    foreground: true,
  });
  assert.deepEqual(signals.terminalFromProcStat(stat(4100, 34816, 4300)), {
    controlling: true,
    foreground: false,
  });
  assert.deepEqual(signals.terminalFromProcStat(stat(4100, 0, -1)), {
    controlling: false,
    foreground: false,
  });
});

test('ps output gives the foreground group on macOS', () => {
  assert.equal(signals.foregroundFromPs(' 4100  4100\n'), true);
  assert.equal(signals.foregroundFromPs(' 4100  4300\n'), false);
  assert.equal(signals.foregroundFromPs(' 4100     0\n'), false);
  assert.equal(signals.foregroundFromPs(''), false);
});
