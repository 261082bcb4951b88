// The runner's signal contract (docs/protocol.md §9): two-stage SIGTERM/SIGINT/SIGHUP shutdown and the
// SIGUSR2 callback hot-reload. Strings and exit codes are the reference's, exactly.
import { moduleCacheBustUrl } from "./cacheBust.mjs";
import { hashJobConfig } from "./configHash.mjs";
import {
  findInspectableTrainer,
  getTrainerInspection,
  replaceTrainerCallbacks,
  requestTrainerEarlyStop,
} from "./inspection.mjs";

/** POSIX 128 + signo. */
export const SIGNAL_EXIT_CODE = Object.freeze({ SIGHUP: 129, SIGINT: 130, SIGTERM: 143 });
const SHUTDOWN_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"];
const CALLBACK_RELOAD_SIGNAL = "SIGUSR2";

/**
 * First signal: early-stop at the next checkpoint, then exit 0 (SIGTERM) or 128+n
 * (SIGINT/SIGHUP, or any signal when the early stop failed). Second signal: exit 128+n now.
 * Returns a disposer.
 */
export function installShutdownHandlers(trainer) {
  let signalCount = 0;
  const handle = (signal) => {
    signalCount += 1;
    if (signalCount > 1) {
      process.stdout.write(`Received second ${signal}; exiting without waiting for checkpoint.\n`);
      process.exit(SIGNAL_EXIT_CODE[signal]);
      return;
    }
    process.stdout.write(`Received ${signal}; early-stopping at next checkpoint…\n`);
    let earlyStopFailed = false;
    void requestTrainerEarlyStop(trainer)
      .catch((err) => {
        earlyStopFailed = true;
        const msg = err instanceof Error ? err.message : String(err);
        process.stderr.write(`requestEarlyStop failed: ${msg}\n`);
      })
      .finally(() => {
        // Only SIGTERM (the dev loop's restart request) reads as success; an operator's
        // Ctrl-C or hangup keeps its signal status even when the stop went well.
        const code = earlyStopFailed || signal !== "SIGTERM" ? SIGNAL_EXIT_CODE[signal] : 0;
        process.exit(code);
      });
  };
  const installed = new Map();
  for (const signal of SHUTDOWN_SIGNALS) {
    const listener = () => handle(signal);
    installed.set(signal, listener);
    process.on(signal, listener);
  }
  return () => {
    for (const [signal, listener] of installed) process.off(signal, listener);
  };
}

/**
 * SIGUSR2: re-import the artifact, and swap in its callbacks only when its configHash equals the
 * one this run started with. Of overlapping reloads only the newest applies.
 */
export function installCallbackReloadHandler(trainer, entryPath) {
  // The hash of the trainer this process actually runs: the artifact on disk may already be a
  // newer, config-changing build whose callbacks must not run against this job.
  let baselineConfigHash = null;
  const baseline = getTrainerInspection(trainer);
  if (baseline) {
    try {
      baselineConfigHash = hashJobConfig(baseline.config);
    } catch {
      // Unhashable config: the console could not have classified a hot-swap either.
    }
  }
  let loadSeq = 0;
  const handle = () => {
    const seq = ++loadSeq;
    const url = moduleCacheBustUrl(entryPath);
    void (async () => {
      try {
        const mod = await import(url);
        if (seq !== loadSeq) return;
        const inspection = findInspectableTrainer(mod);
        if (!inspection) {
          process.stderr.write(
            "Callback reload skipped: rebuilt bundle has no inspectable trainer.\n",
          );
          return;
        }
        if (baselineConfigHash !== null) {
          let reloadedConfigHash = null;
          try {
            reloadedConfigHash = hashJobConfig(inspection.config);
          } catch {
            // Unhashable counts as a mismatch.
          }
          if (reloadedConfigHash !== baselineConfigHash) {
            process.stderr.write(
              "Callback reload skipped: rebuilt bundle's config differs from the running job's; waiting for the restart signal.\n",
            );
            return;
          }
        }
        replaceTrainerCallbacks(trainer, inspection.callbacks);
        process.stdout.write("Callbacks hot-reloaded; training run continues.\n");
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        process.stderr.write(`Callback reload failed: ${msg}\n`);
      }
    })();
  };
  try {
    process.on(CALLBACK_RELOAD_SIGNAL, handle);
  } catch {
    // Platforms without SIGUSR2: the console falls back to restarts.
    return () => undefined;
  }
  return () => {
    // Invalidate a reload still importing, so it cannot act after the run ended.
    loadSeq += 1;
    process.off(CALLBACK_RELOAD_SIGNAL, handle);
  };
}
