// `arkor start`: import the artifact, find the trainer, run it under the signal contract.
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";

import { findTrainerInModule } from "./inspection.mjs";
import { installCallbackReloadHandler, installShutdownHandlers } from "./runnerSignals.mjs";

const DEFAULT_ENTRY = "src/arkor/index.ts";

// Captured and deleted when this module is evaluated: bin.mjs imports it statically, so this
// runs before any user module can read process.env. A blank value means "no nonce", so the
// prefix can never be the forgeable `[arkor:] `.
const RAW_NONCE = process.env.ARKOR_JOB_ID_MARKER_NONCE;
const STARTED_JOB_NONCE = typeof RAW_NONCE === "string" && RAW_NONCE.trim() !== "" ? RAW_NONCE : null;
delete process.env.ARKOR_JOB_ID_MARKER_NONCE;

export function extractTrainer(mod) {
  const trainer = findTrainerInModule(mod);
  if (trainer) return trainer;
  throw new Error(
    "Training entry must export `arkor` (from createArkor({...})) or `trainer` (from createTrainer({...})), or default-export one of them.",
  );
}

/** Run the trainer exported by `file` (default src/arkor/index.ts) until it settles. */
export async function runTrainer(file) {
  const relative = file ?? DEFAULT_ENTRY;
  const abs = isAbsolute(relative) ? relative : resolve(process.cwd(), relative);
  if (!existsSync(abs)) {
    throw new Error(`Training entry not found: ${abs}. Provide a path or create ${DEFAULT_ENTRY}.`);
  }
  const mod = await import(pathToFileURL(abs).href);
  const trainer = extractTrainer(mod);

  const removeShutdown = installShutdownHandlers(trainer);
  const removeCallbackReload = installCallbackReloadHandler(trainer, abs);
  try {
    const { jobId } = await trainer.start();
    const prefix = STARTED_JOB_NONCE ? `[arkor:${STARTED_JOB_NONCE}] ` : "";
    process.stdout.write(`${prefix}Started job ${jobId}\n`);
    const result = await trainer.wait();
    process.stdout.write(`Job ${result.job.id} finished with status=${result.job.status}\n`);
  } finally {
    removeShutdown();
    removeCallbackReload();
  }
}
