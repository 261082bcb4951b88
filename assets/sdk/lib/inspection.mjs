// The internal trainer brands and the six-shape trainer discovery shared by the runner, the
// SIGUSR2 reload and any inspector. Brands live under global-registry symbols so a trainer
// created by one copy of the SDK (the user's bundle) is readable by another (the CLI).
import { isArkor } from "./arkor.mjs";

export const TRAINER_INSPECTION_KEY = Symbol.for("arkor.trainer.inspect");
export const TRAINER_REPLACE_CALLBACKS_KEY = Symbol.for("arkor.trainer.replaceCallbacks");
export const TRAINER_REQUEST_EARLY_STOP_KEY = Symbol.for("arkor.trainer.requestEarlyStop");

function brand(target, key, fn) {
  Object.defineProperty(target, key, {
    value: fn,
    configurable: true,
    enumerable: false,
    writable: false,
  });
}

export function attachTrainerInspection(trainer, read) {
  brand(trainer, TRAINER_INSPECTION_KEY, read);
}

export function attachTrainerCallbackReplacer(trainer, replace) {
  brand(trainer, TRAINER_REPLACE_CALLBACKS_KEY, replace);
}

export function attachTrainerEarlyStopper(trainer, requestStop) {
  brand(trainer, TRAINER_REQUEST_EARLY_STOP_KEY, requestStop);
}

/** `{ name, config, callbacks }` of a branded trainer, or null (unbranded, throwing, malformed). */
export function getTrainerInspection(trainer) {
  if (!trainer || typeof trainer !== "object") return null;
  const read = trainer[TRAINER_INSPECTION_KEY];
  if (typeof read !== "function") return null;
  try {
    const result = read.call(trainer);
    // All three fields: `callbacks` is handed straight to the replacer on SIGUSR2.
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
    // Inspection is best effort; a throwing brand reads as "not inspectable".
  }
  return null;
}

/** Swap a live trainer's callbacks; a no-op for hand-rolled trainers without the brand. */
export function replaceTrainerCallbacks(trainer, callbacks) {
  const replace = trainer[TRAINER_REPLACE_CALLBACKS_KEY];
  if (typeof replace === "function") replace.call(trainer, callbacks);
}

/**
 * Stop after the next checkpoint. Unbranded trainers fall back to the public cancel(), and
 * its rejection propagates so the runner exits non-zero. Async so a synchronous throw becomes
 * a rejection the signal handler can catch.
 */
export async function requestTrainerEarlyStop(trainer, opts) {
  const requestStop = trainer[TRAINER_REQUEST_EARLY_STOP_KEY];
  if (typeof requestStop !== "function") {
    await trainer.cancel();
    return;
  }
  await requestStop.call(trainer, opts);
}

export function isTrainerLike(value) {
  return (
    !!value &&
    typeof value === "object" &&
    typeof value.start === "function" &&
    typeof value.wait === "function" &&
    typeof value.cancel === "function"
  );
}

/**
 * Every distinct trainer in the module, in precedence order:
 * 1 `arkor.trainer` (manifest), 2 `arkor` itself, 3 `trainer`, 4 `default.trainer` (manifest),
 * 5 `default` itself, 6 `default.trainer` (plain object).
 */
export function findTrainerCandidates(mod) {
  const found = [];
  const seen = new Set();
  const consider = (value) => {
    if (value === undefined || value === null || seen.has(value)) return;
    seen.add(value);
    if (isTrainerLike(value)) found.push(value);
  };
  if (isArkor(mod.arkor)) consider(mod.arkor.trainer);
  consider(mod.arkor);
  consider(mod.trainer);
  if (isArkor(mod.default)) consider(mod.default.trainer);
  consider(mod.default);
  if (mod.default && typeof mod.default === "object") consider(mod.default.trainer);
  return found;
}

/** The trainer the runner executes (first match wins), or null. */
export function findTrainerInModule(mod) {
  return findTrainerCandidates(mod)[0] ?? null;
}

/**
 * Inspection of the trainer the runner would execute. Deliberately does not look past an
 * unbranded first candidate: hashing a different trainer than the running one would route a
 * hot-swap to the wrong instance.
 */
export function findInspectableTrainer(mod) {
  const first = findTrainerInModule(mod);
  return first ? getTrainerInspection(first) : null;
}
