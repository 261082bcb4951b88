'use strict';
// Which prebuilt arkor tui binary fits this machine, and where npm put it.
//
// Every platform package is an optional dependency of arkor-tui whose `os`, `cpu` and `libc`
// fields let npm install only the one that fits. The launcher looks for the package this
// machine should have first, then for any other one npm may have judged to fit (npm and this
// file can disagree on the libc of an unusual Linux).
//
// `node lib/platform.js` prints this machine's key (npm/pack.sh uses it), or says why none fits.

const fs = require('node:fs');
const path = require('node:path');

/** The prebuilt platforms: key, then npm's `os` / `cpu` / `libc` values. */
const PLATFORMS = [
  { key: 'linux-x64-gnu', os: 'linux', cpu: 'x64', libc: 'glibc' },
  { key: 'linux-arm64-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc' },
  { key: 'linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl' },
  { key: 'linux-arm64-musl', os: 'linux', cpu: 'arm64', libc: 'musl' },
  { key: 'darwin-arm64', os: 'darwin', cpu: 'arm64', libc: null },
  { key: 'darwin-x64', os: 'darwin', cpu: 'x64', libc: null },
];

/** The npm package holding the binary for a platform key. */
function packageName(key) {
  return `arkor-tui-${key}`;
}

/** Where the binary sits inside its platform package. */
const BINARY_IN_PACKAGE = path.join('bin', 'arkor-tui');

/**
 * The platform keys to look for on a machine, best first: those of its OS and CPU, the ones
 * with its C library ahead. Empty when nothing is prebuilt for it.
 */
function candidates({ platform, arch, libc }) {
  const fitting = PLATFORMS.filter((p) => p.os === platform && p.cpu === arch);
  const preferred = fitting.filter((p) => p.libc === null || p.libc === libc);
  const others = fitting.filter((p) => !preferred.includes(p));
  return [...preferred, ...others].map((p) => p.key);
}

/**
 * The C library of a Linux machine, as npm decides it for the `libc` field: the text of
 * /usr/bin/ldd first (cheap), then Node's own report (slower: it gathers a whole report).
 */
function linuxLibc({
  readLdd = () => fs.readFileSync('/usr/bin/ldd', 'utf8'),
  reportHeader = () => {
    process.report.excludeNetwork = true;
    return process.report.getReport().header;
  },
} = {}) {
  try {
    const ldd = readLdd();
    if (ldd.includes('musl')) return 'musl';
    if (ldd.includes('GNU C Library')) return 'glibc';
  } catch {
    // No ldd (a minimal container): ask Node.
  }
  try {
    return reportHeader().glibcVersionRuntime ? 'glibc' : 'musl';
  } catch {
    return 'glibc';
  }
}

/** This machine, in the terms of npm's `os` / `cpu` / `libc` fields. */
function currentRuntime() {
  const { platform, arch } = process;
  return { platform, arch, libc: platform === 'linux' ? linuxLibc() : null };
}

/** How a machine is named in messages: `linux-x64 (glibc)`, `win32-x64`. */
function describe({ platform, arch, libc }) {
  return libc ? `${platform}-${arch} (${libc})` : `${platform}-${arch}`;
}

/**
 * The binary to run: `{ binary, key }`, or `{ error }` saying what is missing and what to do.
 * `resolvePackage(name)` returns the folder of an installed package or throws.
 */
function findBinary(runtime, resolvePackage, { fromSource }) {
  const keys = candidates(runtime);
  if (keys.length === 0) {
    const prebuilt = PLATFORMS.map((p) => p.key).join(', ');
    return {
      error:
        `there is no prebuilt arkor tui for ${describe(runtime)}; prebuilt are ${prebuilt}.\n` +
        fromSource,
    };
  }
  for (const key of keys) {
    let folder;
    try {
      folder = resolvePackage(packageName(key));
    } catch {
      continue;
    }
    const binary = path.join(folder, BINARY_IN_PACKAGE);
    if (fs.existsSync(binary)) return { binary, key };
    return {
      error:
        `${packageName(key)} is installed at ${folder} but holds no ${BINARY_IN_PACKAGE}: ` +
        `the package is damaged. Reinstall arkor-tui.\n${fromSource}`,
    };
  }
  return {
    error:
      `the package ${packageName(keys[0])}, which holds arkor tui for ${describe(runtime)}, ` +
      `is not installed. npm installs it with arkor-tui as an optional dependency: ` +
      `make sure optional dependencies are not omitted (no --omit=optional or --no-optional), ` +
      `and if the lockfile was written on another platform, delete node_modules and ` +
      `package-lock.json and install again.\n${fromSource}`,
  };
}

/** The hint every "no binary" error ends with: building from source. */
function fromSourceHint(repository) {
  return (
    `To build arkor tui from source instead: install Rust (https://rustup.rs), clone ${repository}, ` +
    `run \`cargo install --locked --path .\` in it, then \`arkor tui\` in your project.`
  );
}

/** Resolves an installed package's folder from this package's own location. */
function resolveFromHere(name) {
  return path.dirname(require.resolve(`${name}/package.json`, { paths: [__dirname] }));
}

module.exports = {
  PLATFORMS,
  BINARY_IN_PACKAGE,
  packageName,
  candidates,
  linuxLibc,
  currentRuntime,
  describe,
  findBinary,
  fromSourceHint,
  resolveFromHere,
};

if (require.main === module) {
  const runtime = currentRuntime();
  const [key] = candidates(runtime);
  if (key === undefined) {
    process.stderr.write(`no prebuilt arkor tui platform fits ${describe(runtime)}\n`);
    process.exit(1);
  }
  process.stdout.write(`${key}\n`);
}
