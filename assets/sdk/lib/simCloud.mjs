// The simulated cloud side of a training job. The real SDK POSTs the JobConfig to the Arkor
// cloud and reads an SSE stream of training events; here the job runs in-process on timers and
// yields the same event objects (training.started / training.log / checkpoint.saved /
// training.completed / training.failed), so the trainer's dispatch logic is the real one.
// Timings and failure modes come from ARKOR_SIM_* environment variables (see README.md).
import { randomBytes } from "node:crypto";

import { CloudApiError } from "./errors.mjs";

const DEFAULTS = {
  stepMs: 400,
  startDelayMs: 300,
  cancelDelayMs: 50,
  checkpointEvery: 10,
  maxSteps: 100,
  dryRunMaxSteps: 10,
  learningRate: 2e-4,
  batchSize: 4,
};

function readInt(env, name, { min = 0 } = {}) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function positiveInt(value) {
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** Simulation knobs: environment first, then the job config, then demo-friendly defaults. */
export function simSettings(config, env = process.env) {
  const configMaxSteps = positiveInt(config.maxSteps) ?? DEFAULTS.maxSteps;
  const maxSteps =
    readInt(env, "ARKOR_SIM_MAX_STEPS", { min: 1 }) ??
    (config.dryRun === true ? Math.min(configMaxSteps, DEFAULTS.dryRunMaxSteps) : configMaxSteps);
  return {
    stepMs: readInt(env, "ARKOR_SIM_STEP_MS") ?? DEFAULTS.stepMs,
    startDelayMs: readInt(env, "ARKOR_SIM_START_MS") ?? DEFAULTS.startDelayMs,
    cancelDelayMs: readInt(env, "ARKOR_SIM_CANCEL_MS") ?? DEFAULTS.cancelDelayMs,
    checkpointEvery:
      readInt(env, "ARKOR_SIM_CHECKPOINT_EVERY", { min: 1 }) ??
      positiveInt(config.saveSteps) ??
      DEFAULTS.checkpointEvery,
    maxSteps,
    loggingEvery: positiveInt(config.loggingSteps) ?? 1,
    evalEvery: positiveInt(config.evalSteps),
    failAtStep: readInt(env, "ARKOR_SIM_FAIL_AT_STEP", { min: 1 }),
    cancelFails: env.ARKOR_SIM_CANCEL_FAIL === "1",
  };
}

/** Early-stop deadline override (the real SDK's is fixed at 5 min). */
export function simEarlyStopTimeoutMs(env = process.env) {
  return readInt(env, "ARKOR_SIM_EARLY_STOP_TIMEOUT_MS");
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
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

/** One simulated cloud job. */
export class SimulatedJob {
  constructor(job, config, settings) {
    this.job = job;
    this.config = config;
    this.settings = settings;
    this.cancelled = false;
    this.cancelController = new AbortController();
    this.seed = Number.parseInt(job.id.slice(4, 10), 16) % 1000;
  }

  /** The simulated `POST /v1/jobs`: a queued job with a fresh `sim-` id. */
  static async create({ name, config }, settings) {
    await sleep(settings.startDelayMs);
    const job = {
      id: `sim-${randomBytes(6).toString("hex")}`,
      orgId: "sim-org",
      projectId: "sim-project",
      name,
      status: "queued",
      config,
      error: null,
      createdAt: new Date().toISOString(),
      startedAt: null,
      completedAt: null,
    };
    return new SimulatedJob(job, config, settings);
  }

  /** The simulated `POST /v1/jobs/:id/cancel`. */
  async cancel() {
    await sleep(this.settings.cancelDelayMs);
    if (this.settings.cancelFails) {
      throw new CloudApiError(503, "Simulated cancel failure (ARKOR_SIM_CANCEL_FAIL=1)");
    }
    this.cancelled = true;
    this.cancelController.abort(new Error("job cancelled"));
  }

  /**
   * The simulated event stream. Ends without a terminal event once the job is cancelled, as
   * the cloud closes the stream of a cancelled job; rejects with the abort reason when
   * `abortSignal` fires.
   */
  async *events(abortSignal) {
    const { settings, config } = this;
    const signals = abortSignal
      ? AbortSignal.any([abortSignal, this.cancelController.signal])
      : this.cancelController.signal;
    const stamp = () => ({ jobId: this.job.id, timestamp: new Date().toISOString() });
    const pause = async (ms) => {
      try {
        await sleep(ms, signals);
        return true;
      } catch (err) {
        if (abortSignal?.aborted) throw err;
        return false;
      }
    };
    if (!(await pause(Math.min(settings.stepMs, 100)))) return;
    yield { type: "training.started", ...stamp() };
    const batchSize = positiveInt(config.batchSize) ?? DEFAULTS.batchSize;
    const epochs = typeof config.numTrainEpochs === "number" ? config.numTrainEpochs : 1;
    for (let step = 1; step <= settings.maxSteps; step += 1) {
      if (!(await pause(settings.stepMs))) return;
      if (this.cancelled) return;
      if (settings.failAtStep === step) {
        yield {
          type: "training.failed",
          error: `Simulated failure at step ${step} (ARKOR_SIM_FAIL_AT_STEP=${step})`,
          step,
          ...stamp(),
        };
        return;
      }
      if (step % settings.loggingEvery === 0 || step === settings.maxSteps) {
        yield {
          type: "training.log",
          step,
          loss: round(lossAt(step, settings.maxSteps, this.seed), 4),
          evalLoss: null,
          learningRate: learningRateAt(step, settings.maxSteps, config),
          epoch: round((epochs * step) / settings.maxSteps, 3),
          samplesPerSecond: round(batchSize * (2.1 + 0.2 * Math.sin(step + this.seed)), 2),
          ...stamp(),
        };
      }
      if (settings.evalEvery && step % settings.evalEvery === 0) {
        yield {
          type: "training.log",
          step,
          loss: null,
          evalLoss: round(lossAt(step, settings.maxSteps, this.seed) * 1.08 + 0.05, 4),
          learningRate: null,
          epoch: round((epochs * step) / settings.maxSteps, 3),
          samplesPerSecond: null,
          ...stamp(),
        };
      }
      if (step % settings.checkpointEvery === 0) {
        yield {
          type: "checkpoint.saved",
          step,
          artifacts: [{ kind: "checkpoint", step, uri: `sim://${this.job.id}/checkpoint-${step}` }],
          ...stamp(),
        };
      }
    }
    yield {
      type: "training.completed",
      metrics: { trainLoss: round(lossAt(settings.maxSteps, settings.maxSteps, this.seed), 4) },
      artifacts: [{ kind: "final", uri: `sim://${this.job.id}/final` }],
      ...stamp(),
    };
  }

  /**
   * The simulated `POST /v1/inference/chat` against a checkpoint adapter. Honours the output
   * constraints a project may ask for (a JSON schema, JSON mode, a choice list), so code that
   * parses the reply keeps working.
   */
  infer(adapter, args) {
    const text = simulatedReply(adapter, args);
    if (args.stream === false) {
      return Promise.resolve(
        Response.json({
          choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
        }),
      );
    }
    const frames = text
      .split(/(?<= )/)
      .map((piece) => `data: ${JSON.stringify({ choices: [{ delta: { content: piece } }] })}\n\n`)
      .concat("data: [DONE]\n\n")
      .join("");
    return Promise.resolve(new Response(frames, { headers: { "content-type": "text/event-stream" } }));
  }
}

function simulatedReply(adapter, args) {
  const format = args.responseFormat;
  if (format?.type === "json_schema") return JSON.stringify(instanceOf(format.json_schema?.schema));
  const choices = args.structuredOutputs?.choice;
  if (Array.isArray(choices) && choices.length > 0) return String(choices[0]);
  if (format?.type === "json_object" || args.structuredOutputs?.json_object) {
    return JSON.stringify({ reply: "simulated", step: adapter.step });
  }
  if (args.structuredOutputs?.json) return JSON.stringify(instanceOf(args.structuredOutputs.json));
  return `(simulated reply from ${adapter.jobId} checkpoint ${adapter.step})`;
}

// A small value that satisfies a JSON schema's common keywords (type, properties, enum, const).
function instanceOf(schema, depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 8) return null;
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object": {
      const value = {};
      for (const [key, child] of Object.entries(schema.properties ?? {})) value[key] = instanceOf(child, depth + 1);
      return value;
    }
    case "array":
      return schema.items ? [instanceOf(schema.items, depth + 1)] : [];
    case "string":
      return "simulated";
    case "integer":
    case "number":
      return typeof schema.minimum === "number" ? schema.minimum : 0;
    case "boolean":
      return false;
    default:
      return null;
  }
}
