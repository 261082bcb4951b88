'use strict';
// The launcher's platform choice: which package fits which machine, and what it says when
// none does. Also keeps the table, the launcher's optionalDependencies and npm/platforms/ in step.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const platform = require('../lib/platform.js');

const launcherManifest = require('../package.json');
const platformsDir = path.join(__dirname, '..', '..', 'platforms');

test('each machine gets its own package first, then any other its npm may have chosen', () => {
  const cases = [
    [{ platform: 'linux', arch: 'x64', libc: 'glibc' }, ['linux-x64-gnu', 'linux-x64-musl']],
    [{ platform: 'linux', arch: 'x64', libc: 'musl' }, ['linux-x64-musl', 'linux-x64-gnu']],
    [{ platform: 'linux', arch: 'arm64', libc: 'glibc' }, ['linux-arm64-gnu', 'linux-arm64-musl']],
    [{ platform: 'linux', arch: 'arm64', libc: 'musl' }, ['linux-arm64-musl', 'linux-arm64-gnu']],
    [{ platform: 'darwin', arch: 'arm64', libc: null }, ['darwin-arm64']],
    [{ platform: 'darwin', arch: 'x64', libc: null }, ['darwin-x64']],
    [{ platform: 'win32', arch: 'x64', libc: null }, []],
    [{ platform: 'linux', arch: 'ia32', libc: 'glibc' }, []],
    [{ platform: 'freebsd', arch: 'x64', libc: null }, []],
  ];
  for (const [runtime, expected] of cases) {
    assert.deepEqual(platform.candidates(runtime), expected, platform.describe(runtime));
  }
});

test('the C library comes from ldd, then from Node\'s report', () => {
  const noReport = () => assert.fail('the report is not needed when ldd answers');
  const musl = 'musl libc (x86_64)\nVersion 1.2.4\n';
  const glibc = '#!/bin/bash\n# This file is part of the GNU C Library.\n';
  assert.equal(platform.linuxLibc({ readLdd: () => musl, reportHeader: noReport }), 'musl');
  assert.equal(platform.linuxLibc({ readLdd: () => glibc, reportHeader: noReport }), 'glibc');
  const missing = () => {
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  };
  assert.equal(
    platform.linuxLibc({ readLdd: missing, reportHeader: () => ({ glibcVersionRuntime: '2.36' }) }),
    'glibc',
  );
  assert.equal(platform.linuxLibc({ readLdd: missing, reportHeader: () => ({}) }), 'musl');
  assert.equal(platform.linuxLibc({ readLdd: () => 'something else', reportHeader: () => ({}) }), 'musl');
});

test('this machine has a key, and that key has a package folder', (t) => {
  const runtime = platform.currentRuntime();
  const [key] = platform.candidates(runtime);
  if (key === undefined) {
    t.skip(`nothing is prebuilt for ${platform.describe(runtime)}`);
    return;
  }
  assert.ok(fs.existsSync(path.join(platformsDir, key, 'package.json')), key);
});

test('the table, the optional dependencies and npm/platforms list the same packages', () => {
  const fromTable = platform.PLATFORMS.map((p) => platform.packageName(p.key)).sort();
  assert.deepEqual(Object.keys(launcherManifest.optionalDependencies).sort(), fromTable);
  const folders = fs.readdirSync(platformsDir).sort();
  assert.deepEqual(folders, platform.PLATFORMS.map((p) => p.key).sort());
  for (const pinned of Object.values(launcherManifest.optionalDependencies)) {
    assert.equal(pinned, launcherManifest.version, 'platform packages are pinned to the launcher version');
  }
});

test('each platform package declares exactly the os, cpu and libc of its table entry', () => {
  for (const entry of platform.PLATFORMS) {
    const manifest = JSON.parse(
      fs.readFileSync(path.join(platformsDir, entry.key, 'package.json'), 'utf8'),
    );
    assert.equal(manifest.name, platform.packageName(entry.key));
    assert.equal(manifest.version, launcherManifest.version, entry.key);
    assert.deepEqual(manifest.os, [entry.os], entry.key);
    assert.deepEqual(manifest.cpu, [entry.cpu], entry.key);
    assert.deepEqual(manifest.libc, entry.libc === null ? undefined : [entry.libc], entry.key);
    assert.deepEqual(manifest.files, [platform.BINARY_IN_PACKAGE], entry.key);
    assert.equal(manifest.bin, undefined, 'only the launcher puts anything on PATH');
  }
});

test('an installed package gives its binary', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'arkor-tui-platform-'));
  try {
    fs.mkdirSync(path.join(folder, 'bin'));
    fs.writeFileSync(path.join(folder, 'bin', 'arkor-tui'), '');
    const resolved = [];
    const found = platform.findBinary(
      { platform: 'linux', arch: 'x64', libc: 'musl' },
      (name) => {
        resolved.push(name);
        if (name === 'arkor-tui-linux-x64-gnu') return folder;
        throw new Error('not installed');
      },
      { fromSource: 'HINT' },
    );
    assert.deepEqual(found, { binary: path.join(folder, 'bin', 'arkor-tui'), key: 'linux-x64-gnu' });
    assert.deepEqual(resolved, ['arkor-tui-linux-x64-musl', 'arkor-tui-linux-x64-gnu']);

    fs.rmSync(path.join(folder, 'bin', 'arkor-tui'));
    const damaged = platform.findBinary(
      { platform: 'linux', arch: 'x64', libc: 'glibc' },
      () => folder,
      { fromSource: 'HINT' },
    );
    assert.match(damaged.error, /arkor-tui-linux-x64-gnu is installed at .* but holds no bin\/arkor-tui/);
    assert.match(damaged.error, /HINT$/);
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
});

test('a missing platform package is named, with what to do', () => {
  const notInstalled = () => {
    throw new Error('not installed');
  };
  const { error } = platform.findBinary(
    { platform: 'darwin', arch: 'arm64', libc: null },
    notInstalled,
    { fromSource: platform.fromSourceHint('https://example.test/arkor-tui') },
  );
  assert.match(error, /the package arkor-tui-darwin-arm64, which holds arkor tui for darwin-arm64, is not installed/);
  assert.match(error, /--omit=optional/);
  assert.match(error, /cargo install --locked --path \./);
  assert.match(error, /https:\/\/example\.test\/arkor-tui/);
});

test('an unsupported platform is named, with the prebuilt ones and cargo install', () => {
  const { error } = platform.findBinary(
    { platform: 'win32', arch: 'x64', libc: null },
    () => assert.fail('nothing to resolve'),
    { fromSource: platform.fromSourceHint('https://example.test/arkor-tui') },
  );
  assert.match(error, /^there is no prebuilt arkor tui for win32-x64; prebuilt are linux-x64-gnu, /);
  assert.match(error, /darwin-x64\./);
  assert.match(error, /cargo install --locked --path \./);
  const musl = platform.findBinary(
    { platform: 'linux', arch: 'riscv64', libc: 'musl' },
    () => assert.fail('nothing to resolve'),
    { fromSource: 'HINT' },
  );
  assert.match(musl.error, /for linux-riscv64 \(musl\)/);
});
