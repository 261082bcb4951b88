// The ARKOR_SIM_* knobs a runner reads from its environment. Those that shape the job travel
// with the create-job request (its sim-only `simulation` field) to the simulated cloud, which
// runs the job; the early-stop deadline stays with the runner.

const JOB_KNOBS = [
  ["ARKOR_SIM_STEP_MS", "stepMs", 0],
  ["ARKOR_SIM_START_MS", "startDelayMs", 0],
  ["ARKOR_SIM_CANCEL_MS", "cancelDelayMs", 0],
  ["ARKOR_SIM_CHECKPOINT_EVERY", "checkpointEvery", 1],
  ["ARKOR_SIM_MAX_STEPS", "maxSteps", 1],
  ["ARKOR_SIM_FAIL_AT_STEP", "failAtStep", 1],
];

/** An unset or blank variable is undefined; anything but an integer >= min throws, naming it. */
export function readInt(env, name, min = 0) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The create-job request's `simulation` field (only the knobs that are set). */
export function simulationKnobs(env) {
  const knobs = {};
  for (const [variable, field, min] of JOB_KNOBS) {
    const value = readInt(env, variable, min);
    if (value !== undefined) knobs[field] = value;
  }
  if (env.ARKOR_SIM_CANCEL_FAIL === "1") knobs.cancelFails = true;
  return knobs;
}

/** Early-stop deadline override (the real SDK's is fixed at 5 min). */
export function earlyStopTimeoutMs(env) {
  return readInt(env, "ARKOR_SIM_EARLY_STOP_TIMEOUT_MS");
}

/** Delay between streamed chat tokens of a cloud this process hosts. */
export function tokenMs(env) {
  return readInt(env, "ARKOR_SIM_TOKEN_MS");
}
