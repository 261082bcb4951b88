'use strict';
// The launcher as installed (node_modules/arkor-tui next to a platform package), run as a real
// process with a stand-in binary: arguments, exit codes, death by signal, signals passed on.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const platform = require('../lib/platform.js');

const launcherRoot = path.join(__dirname, '..');
/** Only hangs fail on time. */
const HANG_MS = 20_000;

// The stand-in binary: reports how it was started, counts the signals it gets, and does what
// its first argument says.
const STAND_IN = `#!/usr/bin/env node
const fs = require('node:fs');
const report = (line) => fs.appendFileSync(process.env.STAND_IN_REPORT, line + '\\n');
const [mode, ...rest] = process.argv.slice(2);
report(JSON.stringify({ argv0: process.argv[1], args: process.argv.slice(2),
  launcherPid: process.env.ARKOR_TUI_LAUNCHER_PID, ppid: process.ppid }));
if (mode === 'exit') process.exit(Number(rest[0]));
if (mode === 'die') process.kill(process.pid, rest[0]);
if (mode === 'wait') {
  // Count signals for a while after the first, then exit 0.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR2']) {
    process.on(signal, () => {
      report('got ' + signal);
      setTimeout(() => process.exit(0), 500);
    });
  }
  report('ready');
  setInterval(() => {}, 1000);
}
`;

/** node_modules/arkor-tui (this package) and this machine's platform package with the stand-in. */
function install(t, { withPlatformPackage = true } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'arkor-tui-launcher-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const modules = path.join(root, 'node_modules');
  const launcher = path.join(modules, 'arkor-tui');
  for (const part of ['bin', 'lib', 'package.json']) {
    fs.cpSync(path.join(launcherRoot, part), path.join(launcher, part), { recursive: true });
  }
  const [key] = platform.candidates(platform.currentRuntime());
  if (withPlatformPackage) {
    const pkg = path.join(modules, platform.packageName(key));
    fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
    fs.writeFileSync(
      path.join(pkg, 'package.json'),
      JSON.stringify({ name: platform.packageName(key), version: '0.0.0' }),
    );
    fs.writeFileSync(path.join(pkg, 'bin', 'arkor-tui'), STAND_IN, { mode: 0o755 });
  }
  return { root, key, bin: path.join(launcher, 'bin', 'arkor-tui.js'), report: path.join(root, 'report') };
}

/** Starts the launcher; `done` settles with its exit, stdout and stderr. */
function launch(installed, args, options = {}) {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), installed.bin, ...args], {
    cwd: installed.root,
    env: { ...process.env, STAND_IN_REPORT: installed.report },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownGroup ?? false,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the launcher hung; stderr: ${stderr}`));
    }, HANG_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

function reportLines(installed) {
  try {
    return fs.readFileSync(installed.report, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

async function waitFor(installed, line) {
  const deadline = Date.now() + HANG_MS;
  while (!reportLines(installed).includes(line)) {
    if (Date.now() > deadline) throw new Error(`no "${line}" in ${reportLines(installed)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('arguments reach the binary unchanged and its exit code comes back', async (t) => {
  const installed = install(t);
  const { done } = launch(installed, ['exit', '7', 'two words', '--flag=x']);
  const result = await done;
  assert.deepEqual([result.code, result.signal], [7, null], result.stderr);
  const started = JSON.parse(reportLines(installed)[0]);
  assert.deepEqual(started.args, ['exit', '7', 'two words', '--flag=x']);
  assert.equal(path.basename(started.argv0), 'arkor-tui', 'the binary knows it runs as arkor-tui');
  assert.ok(started.argv0.includes(platform.packageName(installed.key)), started.argv0);
});

test('a binary killed by a signal kills the launcher with the same signal', async (t) => {
  const installed = install(t);
  const result = await launch(installed, ['die', 'SIGTERM']).done;
  assert.deepEqual([result.code, result.signal], [null, 'SIGTERM'], result.stderr);
});

test('a signal sent to the launcher reaches the binary once', async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2']) {
    const installed = install(t);
    const { child, done } = launch(installed, ['wait']);
    await waitFor(installed, 'ready');
    const started = JSON.parse(reportLines(installed)[0]);
    assert.equal(started.launcherPid, String(child.pid));
    assert.equal(started.ppid, child.pid);
    child.kill(signal);
    const result = await done;
    assert.deepEqual([result.code, result.signal], [0, null], result.stderr);
    assert.deepEqual(
      reportLines(installed).filter((line) => line.startsWith('got ')),
      [`got ${signal}`],
    );
  }
});

test('a signal relayed a moment later (as npm does) still counts once', async (t) => {
  const installed = install(t);
  const { child, done } = launch(installed, ['wait']);
  await waitFor(installed, 'ready');
  child.kill('SIGINT');
  // Apart, so the kernel does not merge the two into one pending signal.
  await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill('SIGINT');
  const result = await done;
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(reportLines(installed).filter((l) => l.startsWith('got ')), ['got SIGINT']);
});

test('without a terminal, a signal to the launcher\'s whole group reaches the binary once', async (t) => {
  const installed = install(t);
  // The launcher leads a group of its own here, as a supervisor's child would.
  const { child, done } = launch(installed, ['wait'], { ownGroup: true });
  await waitFor(installed, 'ready');
  process.kill(-child.pid, 'SIGTERM');
  const result = await done;
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(reportLines(installed).filter((l) => l.startsWith('got ')), ['got SIGTERM']);
});

test('a missing platform package: exit 1 with the package, the platform and cargo install', async (t) => {
  const installed = install(t, { withPlatformPackage: false });
  const result = await launch(installed, ['--version']).done;
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`^arkor-tui: the package ${platform.packageName(installed.key)}, `));
  assert.match(result.stderr, /cargo install --locked --path \./);
  assert.match(result.stderr, /https:\/\/github\.com\//);
});

test('an unsupported platform: exit 1 naming it, with cargo install', async (t) => {
  const installed = install(t);
  const pretend = path.join(installed.root, 'pretend-freebsd.js');
  fs.writeFileSync(pretend, "Object.defineProperty(process, 'platform', { value: 'freebsd' });\n");
  const result = await launch(installed, ['--version'], { nodeArgs: ['--require', pretend] }).done;
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^arkor-tui: there is no prebuilt arkor tui for freebsd-/);
  assert.match(result.stderr, /cargo install --locked --path \./);
  assert.equal(reportLines(installed).length, 0, 'nothing was run');
});
