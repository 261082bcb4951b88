// What a simulated training job does: its settings (the job config, overridden by the
// `simulation` knobs a simulated runner sends with the job), the loss and learning-rate
// curves, and the events each step produces. Pure functions: jobs.mjs runs them on timers,
// seed.mjs runs them instantly for jobs that finished in the past.
import { HttpError, isPlainObject } from "./http.mjs";
import { Issues, checkInteger } from "./validate.mjs";

export const DEFAULTS = Object.freeze({
  stepMs: 400,
  startDelayMs: 300,
  cancelDelayMs: 50,
  checkpointEvery: 10,
  maxSteps: 100,
  dryRunMaxSteps: 10,
  learningRate: 2e-4,
  batchSize: 4,
});

/** The integer knobs of the `simulation` field and their lower bounds. */
const INTEGER_KNOBS = Object.freeze({
  stepMs: 0,
  startDelayMs: 0,
  cancelDelayMs: 0,
  checkpointEvery: 1,
  maxSteps: 1,
  failAtStep: 1,
});

/** Validates the create-job body's optional `simulation` field (400 when malformed). */
export function parseSimulation(value) {
  if (value === undefined) return {};
  const issues = new Issues();
  if (!isPlainObject(value)) {
    throw new HttpError(400, "Invalid job body: simulation: expected object");
  }
  const knobs = {};
  for (const [name, min] of Object.entries(INTEGER_KNOBS)) {
    if (value[name] === undefined) continue;
    if (checkInteger(issues, ["simulation", name], value[name], { min })) knobs[name] = value[name];
  }
  if (value.cancelFails !== undefined) {
    if (typeof value.cancelFails === "boolean") knobs.cancelFails = value.cancelFails;
    else issues.add(["simulation", "cancelFails"], "expected boolean");
  }
  issues.throwIfAny("Invalid job body: ");
  return knobs;
}

function positiveInt(value) {
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** The settings a job runs with: the knobs first, then its config, then the defaults. */
export function resolveSettings(config, knobs = {}) {
  const configMaxSteps = positiveInt(config.maxSteps) ?? DEFAULTS.maxSteps;
  return {
    stepMs: knobs.stepMs ?? DEFAULTS.stepMs,
    startDelayMs: knobs.startDelayMs ?? DEFAULTS.startDelayMs,
    cancelDelayMs: knobs.cancelDelayMs ?? DEFAULTS.cancelDelayMs,
    checkpointEvery: knobs.checkpointEvery ?? positiveInt(config.saveSteps) ?? DEFAULTS.checkpointEvery,
    maxSteps:
      knobs.maxSteps ??
      (config.dryRun === true ? Math.min(configMaxSteps, DEFAULTS.dryRunMaxSteps) : configMaxSteps),
    loggingEvery: positiveInt(config.loggingSteps) ?? 1,
    evalEvery: positiveInt(config.evalSteps) ?? null,
    failAtStep: knobs.failAtStep ?? null,
    cancelFails: knobs.cancelFails ?? false,
  };
}

// A loss curve that looks like fine-tuning: fast initial drop, then a slow tail, with a little
// deterministic wobble so consecutive lines differ.
function lossAt(step, maxSteps, seed) {
  const progress = step / maxSteps;
  const wobble = 0.035 * Math.sin(step * 1.7 + seed) + 0.015 * Math.sin(step * 0.31 + seed * 3);
  return Math.max(0.05, 0.42 + 1.95 * Math.exp(-4 * progress) + wobble);
}

function learningRateAt(step, maxSteps, config) {
  const peak = typeof config.learningRate === "number" ? config.learningRate : DEFAULTS.learningRate;
  const warmup = positiveInt(config.warmupSteps) ?? 0;
  if (step <= warmup) return (peak * step) / warmup;
  const progress = (step - warmup) / Math.max(1, maxSteps - warmup);
  switch (config.lrSchedulerType) {
    case "constant":
    case "constant_with_warmup":
      return peak;
    case "cosine":
      return peak * 0.5 * (1 + Math.cos(Math.PI * progress));
    default:
      return peak * (1 - progress);
  }
}

function round(value, digits) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** A per-job number that varies the wobble of its curve. */
export function seedOf(jobId) {
  let hash = 0;
  for (const char of jobId) hash = (hash * 31 + char.charCodeAt(0)) % 1000;
  return hash;
}

/**
 * The event payloads (without jobId / timestamp) step `step` produces, in order. A failing
 * step produces only its `training.failed`, which ends the job.
 */
export function eventsForStep(step, job) {
  const { settings } = job.sim;
  const { config } = job;
  const seed = seedOf(job.id);
  if (settings.failAtStep === step) {
    return [
      {
        type: "training.failed",
        error: `Simulated failure at step ${step} (ARKOR_SIM_FAIL_AT_STEP=${step})`,
        step,
      },
    ];
  }
  const events = [];
  const batchSize = positiveInt(config.batchSize) ?? DEFAULTS.batchSize;
  const epochs = typeof config.numTrainEpochs === "number" ? config.numTrainEpochs : 1;
  const epoch = round((epochs * step) / settings.maxSteps, 3);
  if (step % settings.loggingEvery === 0 || step === settings.maxSteps) {
    events.push({
      type: "training.log",
      step,
      loss: round(lossAt(step, settings.maxSteps, seed), 4),
      evalLoss: null,
      learningRate: Number(learningRateAt(step, settings.maxSteps, config).toPrecision(6)),
      epoch,
      samplesPerSecond: round(batchSize * (2.1 + 0.2 * Math.sin(step + seed)), 2),
    });
  }
  if (settings.evalEvery && step % settings.evalEvery === 0) {
    events.push({
      type: "training.log",
      step,
      loss: null,
      evalLoss: round(lossAt(step, settings.maxSteps, seed) * 1.08 + 0.05, 4),
      learningRate: null,
      epoch,
      samplesPerSecond: null,
    });
  }
  if (step % settings.checkpointEvery === 0) {
    events.push({
      type: "checkpoint.saved",
      step,
      artifacts: [{ kind: "checkpoint", step, uri: `sim://${job.id}/checkpoint-${step}` }],
    });
  }
  return events;
}

/** The last event of a job that ran all its steps. */
export function completionEvent(job) {
  const { settings } = job.sim;
  return {
    type: "training.completed",
    metrics: { trainLoss: round(lossAt(settings.maxSteps, settings.maxSteps, seedOf(job.id)), 4), steps: settings.maxSteps },
    artifacts: [{ kind: "final", uri: `sim://${job.id}/final` }],
  };
}

/** The first event, with what a dashboard needs to show progress. */
export function startedEvent(job) {
  return {
    type: "training.started",
    metadata: { simulated: true, maxSteps: job.sim.settings.maxSteps },
  };
}
