// createTrainer: the real input shape, the exact JobConfig derivation, the three internal
// brands and the real event dispatch (callbacks, early-stop latch). Only the transport differs:
// jobs run on the simulated cloud (simCloud.mjs) instead of the Arkor API.
import {
  attachTrainerCallbackReplacer,
  attachTrainerEarlyStopper,
  attachTrainerInspection,
} from "./inspection.mjs";
import { SimulatedJob, simEarlyStopTimeoutMs, simSettings } from "./simCloud.mjs";

const TERMINAL_STATUSES = new Set(["completed", "failed", "cancelled"]);
const DEFAULT_EARLY_STOP_TIMEOUT_MS = 5 * 60 * 1000;

// Fields copied verbatim, under their own name, when not undefined (after model/dataset/lora).
const PASSTHROUGH_FIELDS = [
  "maxSteps",
  "numTrainEpochs",
  "learningRate",
  "batchSize",
  "optim",
  "lrSchedulerType",
  "weightDecay",
  "warmupSteps",
  "loggingSteps",
  "saveSteps",
  "evalSteps",
  "trainOnResponsesOnly",
  "datasetFormat",
  "datasetSplit",
  "dryRun",
];

/** The cloud-side JobConfig a TrainerInput submits (what configHash is computed over). */
export function buildJobConfig(input) {
  const config = { model: input.model, datasetSource: input.dataset };
  if (input.lora) {
    config.loraR = input.lora.r;
    config.loraAlpha = input.lora.alpha;
    if (input.lora.maxLength !== undefined) config.maxLength = input.lora.maxLength;
    if (input.lora.loadIn4bit !== undefined) config.loadIn4bit = input.lora.loadIn4bit;
  }
  for (const field of PASSTHROUGH_FIELDS) {
    if (input[field] !== undefined) config[field] = input[field];
  }
  return config;
}

function errorOf(value) {
  return value instanceof Error ? value : new Error(String(value));
}

function messageOf(value) {
  return value instanceof Error ? value.message : String(value);
}

export function createTrainer(input, context = {}) {
  const config = buildJobConfig(input);
  const env = context.env ?? process.env;

  let startedJob = null;
  let simJob = null;
  // Non-null while the job is being created, so an early stop requested in that window
  // waits for the id instead of leaving a fresh job running.
  let startInFlight = null;
  // Read once per dispatch: a swap takes effect on the next event, never mid-callback.
  let currentCallbacks = input.callbacks ?? {};

  let earlyStopDeferred = null;
  let earlyStopRequested = false;

  function settleEarlyStopLatch() {
    if (earlyStopDeferred) {
      if (earlyStopDeferred.timer) clearTimeout(earlyStopDeferred.timer);
      earlyStopDeferred.resolve();
      earlyStopDeferred = null;
    }
    earlyStopRequested = false;
  }

  function markStopped(cancelFailed, cancelError, completedAt) {
    startedJob = {
      ...startedJob,
      // "failed", not "cancelled", when the cancel itself failed: the cloud job may live on.
      status: cancelFailed ? "failed" : "cancelled",
      ...(cancelFailed && { error: `Early-stop cancel failed: ${messageOf(cancelError)}` }),
      completedAt,
    };
  }

  async function dispatch(event) {
    if (!startedJob || !simJob) throw new Error("Trainer is in an inconsistent state");
    const callbacks = currentCallbacks;
    switch (event.type) {
      case "training.started": {
        startedJob = { ...startedJob, status: "running", startedAt: event.timestamp };
        await callbacks.onStarted?.({ job: startedJob });
        return { terminal: false, artifacts: [] };
      }
      case "training.log": {
        await callbacks.onLog?.({
          step: event.step,
          loss: event.loss ?? null,
          evalLoss: event.evalLoss ?? null,
          learningRate: event.learningRate ?? null,
          epoch: event.epoch ?? null,
          samplesPerSecond: event.samplesPerSecond ?? null,
          job: startedJob,
        });
        return { terminal: false, artifacts: [] };
      }
      case "checkpoint.saved": {
        const adapter = { kind: "checkpoint", jobId: startedJob.id, step: event.step };
        const job = simJob;
        const ctx = {
          step: event.step,
          adapter,
          job: startedJob,
          infer: (args) => job.infer(adapter, args),
          artifacts: event.artifacts,
        };
        // The early-stop branch must run even when the callback throws, or a SIGTERM would
        // wait for the full timeout; the throw is re-raised afterwards.
        let callbackError = null;
        let callbackThrew = false;
        try {
          await callbacks.onCheckpoint?.(ctx);
        } catch (err) {
          callbackError = err;
          callbackThrew = true;
        }
        if (earlyStopRequested && earlyStopDeferred) {
          // Dropped before the async cancel so a racing timeout cannot cancel twice.
          earlyStopRequested = false;
          let cancelError = null;
          let cancelFailed = false;
          try {
            await trainer.cancel();
          } catch (err) {
            cancelError = err;
            cancelFailed = true;
          }
          markStopped(cancelFailed, cancelError, event.timestamp);
          if (cancelFailed) {
            if (earlyStopDeferred.timer) clearTimeout(earlyStopDeferred.timer);
            earlyStopDeferred.reject(errorOf(cancelError));
            earlyStopDeferred = null;
            earlyStopRequested = false;
          } else {
            settleEarlyStopLatch();
          }
          if (callbackThrew) throw callbackError;
          return { terminal: true, artifacts: event.artifacts ?? [] };
        }
        if (callbackThrew) throw callbackError;
        return { terminal: false, artifacts: [] };
      }
      case "training.completed": {
        startedJob = { ...startedJob, status: "completed", completedAt: event.timestamp };
        const artifacts = event.artifacts ?? [];
        try {
          await callbacks.onCompleted?.({ job: startedJob, artifacts });
        } finally {
          settleEarlyStopLatch();
        }
        return { terminal: true, artifacts };
      }
      case "training.failed": {
        startedJob = {
          ...startedJob,
          status: "failed",
          error: event.error,
          completedAt: event.timestamp,
        };
        try {
          await callbacks.onFailed?.({ job: startedJob, error: event.error });
        } finally {
          settleEarlyStopLatch();
        }
        return { terminal: true, artifacts: [] };
      }
      default:
        return { terminal: false, artifacts: [] };
    }
  }

  const trainer = {
    name: input.name,

    async start() {
      if (startedJob) return { jobId: startedJob.id };
      if (startInFlight) {
        const job = await startInFlight;
        return { jobId: job.id };
      }
      const startPromise = (async () => {
        const created = await SimulatedJob.create(
          { name: input.name, config },
          simSettings(config, env),
        );
        simJob = created;
        startedJob = created.job;
        return created.job;
      })();
      startInFlight = startPromise;
      try {
        const job = await startPromise;
        return { jobId: job.id };
      } finally {
        startInFlight = null;
      }
    },

    async wait() {
      if (!startedJob) await trainer.start();
      if (!startedJob || !simJob) {
        throw new Error("Trainer is in an inconsistent state after start()");
      }
      let artifacts = [];
      let terminal = false;
      for await (const event of simJob.events(input.abortSignal)) {
        const result = await dispatch(event);
        if (result.terminal) {
          artifacts = result.artifacts;
          terminal = true;
          break;
        }
      }
      // The stream of a cancelled job ends without a terminal event; report what the cloud
      // would: the job is cancelled.
      if (!terminal && simJob.cancelled && !TERMINAL_STATUSES.has(startedJob.status)) {
        startedJob = { ...startedJob, status: "cancelled", completedAt: new Date().toISOString() };
      }
      return { job: startedJob, artifacts };
    },

    async cancel() {
      if (!startedJob || !simJob) return;
      await simJob.cancel();
    },
  };

  async function requestEarlyStop(opts = {}) {
    if (startInFlight) {
      try {
        await startInFlight;
      } catch {
        // A failed start has no job to cancel.
      }
    }
    if (!startedJob || TERMINAL_STATUSES.has(startedJob.status)) {
      settleEarlyStopLatch();
      return;
    }
    if (earlyStopDeferred) return earlyStopDeferred.promise;

    earlyStopRequested = true;
    let resolveFn;
    let rejectFn;
    const promise = new Promise((resolve, reject) => {
      resolveFn = resolve;
      rejectFn = reject;
    });
    const timeoutMs = opts.timeoutMs ?? simEarlyStopTimeoutMs(env) ?? DEFAULT_EARLY_STOP_TIMEOUT_MS;
    const timer = setTimeout(() => {
      // No checkpoint in time: cancel now, unless the run already ended meanwhile.
      if (
        !earlyStopRequested ||
        !earlyStopDeferred ||
        (startedJob && TERMINAL_STATUSES.has(startedJob.status))
      ) {
        settleEarlyStopLatch();
        return;
      }
      earlyStopRequested = false;
      const active = earlyStopDeferred;
      let cancelError = null;
      let cancelFailed = false;
      void trainer
        .cancel()
        .catch((err) => {
          cancelError = err;
          cancelFailed = true;
        })
        .finally(() => {
          earlyStopRequested = false;
          if (startedJob && !TERMINAL_STATUSES.has(startedJob.status)) {
            markStopped(cancelFailed, cancelError, new Date().toISOString());
          }
          if (cancelFailed) active.reject(errorOf(cancelError));
          else active.resolve();
          if (earlyStopDeferred === active) earlyStopDeferred = null;
        });
    }, timeoutMs);
    // The deadline alone must not keep the process alive.
    timer.unref();
    earlyStopDeferred = { promise, resolve: resolveFn, reject: rejectFn, timer };
    return promise;
  }

  attachTrainerInspection(trainer, () => ({
    name: input.name,
    config,
    callbacks: currentCallbacks,
  }));
  attachTrainerCallbackReplacer(trainer, (callbacks) => {
    currentCallbacks = callbacks;
  });
  attachTrainerEarlyStopper(trainer, requestEarlyStop);
  return trainer;
}
