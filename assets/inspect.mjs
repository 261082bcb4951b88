// arkor tui inspector: a persistent Node helper that imports each freshly built artifact and
// reports the trainer the runner would execute (docs/protocol.md §1). One JSON request per stdin line:
//   {"id": 1, "file": "/abs/.arkor/build/index.mjs", "key": "<contentHash>"}
// An empty line is a wake-up call (see warmUp) and gets no reply.
// One reply per request (and one {"ready":true} after start-up) on stdout, on its own line, prefixed with the per-session marker from
// ARKOR_INSPECT_MARKER so whatever the user's module prints can never pass for a reply.
// Rust hashes the config; this only sends JSON.stringify(config) (the "wire" text).

import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const MARKER = process.env.ARKOR_INSPECT_MARKER ?? "";
delete process.env.ARKOR_INSPECT_MARKER;
const WARMUP_FILE = process.env.ARKOR_INSPECT_WARMUP;
delete process.env.ARKOR_INSPECT_WARMUP;
const WARMUP_URL = WARMUP_FILE ? pathToFileURL(WARMUP_FILE).href : null;

// Captured before any user module runs, which may patch globals.
const stringify = JSON.stringify;
const writeOut = process.stdout.write.bind(process.stdout);
const writeErr = process.stderr.write.bind(process.stderr);
const toStringTag = Object.prototype.toString;

const INSPECT = Symbol.for("arkor.trainer.inspect");

// A user module's stray rejection or timer error must not take the helper down.
process.on("unhandledRejection", (reason) => {
  writeErr(`[arkor inspect] unhandled rejection in the user module: ${describe(reason)}\n`);
});
process.on("uncaughtException", (err) => {
  writeErr(`[arkor inspect] uncaught exception in the user module: ${describe(err)}\n`);
});

function describe(err) {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return toStringTag.call(err);
  }
}

function reply(message) {
  writeOut(`\n${MARKER}${stringify(message)}\n`);
}

function isArkorManifest(value) {
  return typeof value === "object" && value !== null && value._kind === "arkor";
}

function isTrainerLike(value) {
  return (
    !!value &&
    typeof value === "object" &&
    typeof value.start === "function" &&
    typeof value.wait === "function" &&
    typeof value.cancel === "function"
  );
}

// The six export shapes in the runner's precedence order; first match wins.
function findTrainer(mod) {
  const candidates = [];
  if (isArkorManifest(mod.arkor)) candidates.push(mod.arkor.trainer);
  candidates.push(mod.arkor);
  candidates.push(mod.trainer);
  if (isArkorManifest(mod.default)) candidates.push(mod.default.trainer);
  candidates.push(mod.default);
  if (mod.default && typeof mod.default === "object") candidates.push(mod.default.trainer);
  return candidates.find(isTrainerLike) ?? null;
}

// The brand's snapshot, or null when absent, throwing, or not {name, config, callbacks}.
function inspectBrand(trainer) {
  const read = trainer[INSPECT];
  if (typeof read !== "function") return null;
  try {
    const result = read.call(trainer);
    if (
      result &&
      typeof result === "object" &&
      "config" in result &&
      "name" in result &&
      "callbacks" in result
    ) {
      return result;
    }
  } catch {
    // Best effort, as in the SDK: a throwing brand means "not inspectable".
  }
  return null;
}

// Node caches failed evaluations by URL: after a failure, the same bytes get a fresh salt so
// an import that failed for an external reason is really retried.
const retryStates = new Map();

async function inspect(request) {
  const base = `${pathToFileURL(request.file).href}?t=${encodeURIComponent(request.key)}`;
  const state = retryStates.get(base);
  if (state?.failed) {
    state.salt += 1;
    state.failed = false;
  }
  const salt = state?.salt ?? 0;
  const url = salt === 0 ? base : `${base}&r=${salt}`;
  let mod;
  try {
    mod = await import(url);
  } catch (err) {
    const failed = retryStates.get(base) ?? { salt: 0, failed: false };
    failed.failed = true;
    retryStates.set(base, failed);
    return { id: request.id, ok: false, error: describe(err) };
  }
  const trainer = findTrainer(mod);
  if (!trainer) return { id: request.id, ok: true, trainer: null };
  let name;
  try {
    name = typeof trainer.name === "string" ? trainer.name : "(unnamed trainer)";
  } catch {
    name = "(unnamed trainer)";
  }
  const inspection = inspectBrand(trainer);
  if (!inspection) return { id: request.id, ok: true, trainer: { name, branded: false } };
  let config = null;
  let configError = null;
  try {
    // undefined (a top-level toJSON returning undefined) hashes as "null", like the SDK.
    config = stringify(inspection.config) ?? "null";
  } catch (err) {
    configError = describe(err);
  }
  let inspectName = null;
  try {
    inspectName = typeof inspection.name === "string" ? inspection.name : null;
  } catch {
    inspectName = null;
  }
  return {
    id: request.id,
    ok: true,
    trainer: { name, branded: true, inspectName, config, configError },
  };
}

// An empty line says "a build started, a request follows in a millisecond or two". After an
// idle spell the first import runs on cold caches: 1.22 ms for a 3-module artifact. A
// throw-away import of a one-line module, while Rolldown is still bundling, exercises the same
// resolver, file reader, compiler and linker paths, and the real import then took 0.69 ms from
// a file module (the parent writes .arkor/tui-inspect-warmup.mjs) or 0.86 ms from a data: URL
// (the fallback). Each warm-up stays in Node's module map, as every import does; the parent
// recycles this process before that matters.
let warmups = 0;
async function warmUp() {
  warmups += 1;
  try {
    await import(
      WARMUP_URL ? `${WARMUP_URL}?w=${warmups}` : `data:text/javascript,export default ${warmups};`
    );
  } catch {
    // Only a warm-up (the file may have been deleted): nothing depends on it.
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
lines.on("line", (line) => {
  if (!line.trim()) {
    queue = queue.then(warmUp);
    return;
  }
  queue = queue.then(async () => {
    let request;
    try {
      request = JSON.parse(line);
    } catch (err) {
      reply({ id: null, ok: false, error: `bad request: ${describe(err)}` });
      return;
    }
    try {
      reply(await inspect(request));
    } catch (err) {
      reply({ id: request.id, ok: false, error: describe(err) });
    }
  });
});
// The parent closed our stdin: it is done with us (or gone).
lines.on("close", () => {
  void queue.finally(() => process.exit(0));
});
// Boot is over: the parent starts each import's timeout from here.
reply({ ready: true });
