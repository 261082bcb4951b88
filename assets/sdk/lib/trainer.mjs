// createTrainer: the real input shape, the exact JobConfig derivation, the three internal
// brands, and the real runner's conversation with the cloud: create the job, follow its event
// stream (resumed with Last-Event-ID after a drop, 1 s → 60 s jittered backoff), dispatch on
// each event's JSON `type`, cancel. Only the cloud is simulated (cloudTarget.mjs).
import { CloudApiError } from "./errors.mjs";
import { connectCloud } from "./cloudTarget.mjs";
import {
  attachTrainerCallbackReplacer,
  attachTrainerEarlyStopper,
  attachTrainerInspection,
} from "./inspection.mjs";
import { openSession } from "./session.mjs";
import { earlyStopTimeoutMs, simulationKnobs } from "./simKnobs.mjs";
import { iterateEvents } from "./sse.mjs";

const TERMINAL_STATUSES = new Set(["completed", "failed", "cancelled"]);
const DEFAULT_EARLY_STOP_TIMEOUT_MS = 5 * 60 * 1000;
/** Stream statuses that will not change on a retry: fail the wait instead of reconnecting. */
const PERMANENT_STREAM_STATUSES = new Set([401, 403, 410, 426]);

/**
 * A callback (or an internal invariant) failed while dispatching an event: not a transport
 * failure, so `wait()` must not reconnect past the event (that would swallow the error).
 */
class FatalStreamError extends Error {
  constructor(cause) {
    super("Trainer stream dispatch failed", { cause });
    this.name = "FatalStreamError";
  }
}

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

/**
 * `context` (tests and power users; never user-facing): `env` (default process.env), `cwd`
 * (default process.cwd()), `reconnectDelayMs` (1000), `maxReconnectDelayMs` (60000),
 * `maxReconnectAttempts` (unlimited).
 */
export function createTrainer(input, context = {}) {
  const config = buildJobConfig(input);
  const env = context.env ?? process.env;
  const cwd = context.cwd ?? process.cwd();
  const initialReconnectDelayMs = context.reconnectDelayMs ?? 1000;
  const maxReconnectDelayMs = context.maxReconnectDelayMs ?? 60_000;
  const maxReconnectAttempts = context.maxReconnectAttempts;

  let startedJob = null;
  let scope = null;
  // The signed-in client and the cloud it talks to; set up once, by the first start().
  let sessionPromise = null;
  let cloud = null;
  let hostedCloudClosed = false;
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

  async function getSession() {
    sessionPromise ??= (async () => {
      // Bad knobs fail before any cloud is contacted.
      const knobs = simulationKnobs(env);
      const target = await connectCloud(env);
      cloud = target;
      hostedCloudClosed = false;
      try {
        const session = await openSession({ baseUrl: target.baseUrl, home: target.home, cwd, persistent: target.persistent });
        return { ...session, knobs };
      } catch (err) {
        releaseCloud();
        throw err;
      }
    })();
    try {
      return await sessionPromise;
    } catch (err) {
      // A failed set-up can be retried by a later start().
      sessionPromise = null;
      throw err;
    }
  }

  /** Done with the cloud: a cloud hosted in this process closes once no trainer uses it. */
  function releaseCloud() {
    if (!cloud) return;
    cloud.release();
    if (cloud.hosted) hostedCloudClosed = true;
    cloud = null;
  }

  // Exponential backoff with ±25 % jitter, capped (after the jitter too) at the maximum.
  function nextReconnectDelay(attempt) {
    const exp = Math.min(initialReconnectDelayMs * 2 ** attempt, maxReconnectDelayMs);
    const jitter = exp * (Math.random() * 0.5 - 0.25);
    return Math.max(0, Math.min(maxReconnectDelayMs, exp + jitter));
  }

  function delay(ms, signal) {
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

  async function dispatch(event) {
    if (!startedJob || !scope || !sessionPromise) throw new Error("Trainer is in an inconsistent state");
    const { client } = await sessionPromise;
    const jobScope = scope;
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
        const infer = (args) =>
          client.chat({
            scope: jobScope,
            body: {
              messages: args.messages,
              adapter,
              temperature: args.temperature,
              topP: args.topP,
              maxTokens: args.maxTokens,
              stream: args.stream ?? true,
              tools: args.tools,
              toolChoice: args.toolChoice,
              responseFormat: args.responseFormat,
              structuredOutputs: args.structuredOutputs,
            },
            signal: args.signal,
          });
        const ctx = { step: event.step, adapter, job: startedJob, infer, artifacts: event.artifacts };
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
        const session = await getSession();
        scope = session.scope;
        const { job } = await session.client.createJob({
          ...session.scope,
          name: input.name,
          config,
          simulation: session.knobs,
        });
        startedJob = job;
        return job;
      })();
      startInFlight = startPromise;
      try {
        const job = await startPromise;
        return { jobId: job.id };
      } catch (err) {
        // No job to follow: a later start() sets up afresh.
        releaseCloud();
        sessionPromise = null;
        throw err;
      } finally {
        startInFlight = null;
      }
    },

    async wait() {
      if (!startedJob) await trainer.start();
      if (!startedJob || !scope || !sessionPromise) {
        throw new Error("Trainer is in an inconsistent state after start()");
      }
      try {
        return await follow((await sessionPromise).client);
      } finally {
        releaseCloud();
      }
    },

    async cancel() {
      // A cloud hosted in this process ended its jobs when it closed: nothing left to cancel.
      if (!startedJob || !scope || !sessionPromise || hostedCloudClosed) return;
      const { client } = await sessionPromise;
      await client.cancelJob(startedJob.id, scope);
    },
  };

  /** The job's event stream until a terminal event or `end`, reconnecting as the real SDK does. */
  async function follow(client) {
    const { abortSignal } = input;
    let lastEventId;
    let artifacts = [];
    let terminal = false;
    // Consecutive failures; reset by every real data frame (pings do not count).
    let attempt = 0;
    const handleFailure = async (err) => {
      if (abortSignal?.aborted) throw abortSignal.reason;
      if (maxReconnectAttempts !== undefined && attempt >= maxReconnectAttempts) {
        throw new Error(`Trainer SSE stream failed ${attempt + 1} consecutive times; giving up.`, { cause: err });
      }
      await delay(nextReconnectDelay(attempt), abortSignal);
      attempt += 1;
    };

    while (!terminal) {
      let response;
      try {
        response = await client.openEventStream(startedJob.id, scope, { lastEventId, signal: abortSignal });
      } catch (err) {
        if (err instanceof CloudApiError && PERMANENT_STREAM_STATUSES.has(err.status)) throw err;
        await handleFailure(err);
        continue;
      }
      let receivedAny = false;
      try {
        for await (const sse of iterateEvents(response)) {
          if (sse.id) lastEventId = sse.id;
          if (sse.event === "ping") continue;
          if (sse.event === "end") {
            terminal = true;
            break;
          }
          let event;
          try {
            event = JSON.parse(sse.data);
          } catch {
            continue; // a malformed frame is skipped
          }
          receivedAny = true;
          attempt = 0;
          let result;
          try {
            result = await dispatch(event);
          } catch (err) {
            throw new FatalStreamError(err);
          }
          if (result.terminal) {
            artifacts = result.artifacts;
            terminal = true;
            break;
          }
        }
      } catch (err) {
        if (err instanceof FatalStreamError) throw err.cause;
        await handleFailure(err);
        continue;
      }
      if (terminal) break;
      // A stream that closed after real frames reconnects at the base delay; one that gave
      // nothing counts as a failure (a proxy that accepts and drops).
      if (receivedAny) await delay(initialReconnectDelayMs, abortSignal);
      else await handleFailure(new Error("SSE stream closed without emitting any frame"));
    }
    if (!TERMINAL_STATUSES.has(startedJob.status)) await adoptCloudStatus(client);
    return { job: startedJob, artifacts };
  }

  // The stream ended (`end`) before this trainer saw its job end, as after a cancel whose
  // answer is still on its way: take the final status from the cloud, so the result names it.
  async function adoptCloudStatus(client) {
    try {
      const { job } = await client.getJob(startedJob.id, scope);
      if (TERMINAL_STATUSES.has(job.status) && !TERMINAL_STATUSES.has(startedJob.status)) {
        startedJob = { ...startedJob, status: job.status, error: job.error ?? null, completedAt: job.completedAt };
      }
    } catch {
      // The status stays as last seen.
    }
  }

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
    const timeoutMs = opts.timeoutMs ?? earlyStopTimeoutMs(env) ?? DEFAULT_EARLY_STOP_TIMEOUT_MS;
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
