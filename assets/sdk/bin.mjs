#!/usr/bin/env node
// Entry of the simulated `arkor` CLI. The static import chain reaches lib/runner.mjs, which
// captures and deletes ARKOR_JOB_ID_MARKER_NONCE before any user code is imported.
import { main } from "./lib/cli.mjs";

try {
  const code = await main(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
} catch (err) {
  // exitCode (not exit()) so stderr drains before the process ends.
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
}
