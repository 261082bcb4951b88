// createArkor / createTrainer in-process: JobConfig derivation, brands, callbacks, early stop.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CloudApiError, createArkor, createTrainer, isArkor } from "../index.mjs";
import { hashJobConfig } from "../lib/configHash.mjs";

const INSPECT = Symbol.for("arkor.trainer.inspect");
const REPLACE = Symbol.for("arkor.trainer.replaceCallbacks");
const EARLY_STOP = Symbol.for("arkor.trainer.requestEarlyStop");
const FAST = { ARKOR_SIM_STEP_MS: "5", ARKOR_SIM_START_MS: "1", ARKOR_SIM_CANCEL_MS: "1" };
const BASE = { name: "run", model: "m", dataset: { type: "huggingface", name: "x" } };

const configOf = (trainer) => trainer[INSPECT]().config;

test("minimal input: config is exactly model + datasetSource", () => {
  const config = configOf(createTrainer(BASE));
  assert.deepEqual(config, { model: "m", datasetSource: { type: "huggingface", name: "x" } });
  assert.equal(hashJobConfig(config), "996c886df5bc8d78");
});

test("every optional field is copied under its own name; lora is flattened", () => {
  const config = configOf(
    createTrainer({
      ...BASE,
      lora: { r: 16, alpha: 32, maxLength: 2048, loadIn4bit: true },
      maxSteps: 100,
      numTrainEpochs: 1,
      learningRate: 0.0002,
      batchSize: 4,
      optim: "adamw_8bit",
      lrSchedulerType: "linear",
      weightDecay: 0.01,
      warmupSteps: 10,
      loggingSteps: 5,
      saveSteps: 50,
      evalSteps: 25,
      trainOnResponsesOnly: true,
      datasetFormat: "alpaca",
      datasetSplit: "train",
      dryRun: false,
      callbacks: { onLog() {} },
    }),
  );
  assert.deepEqual(Object.keys(config), [
    "model", "datasetSource", "loraR", "loraAlpha", "maxLength", "loadIn4bit", "maxSteps",
    "numTrainEpochs", "learningRate", "batchSize", "optim", "lrSchedulerType", "weightDecay",
    "warmupSteps", "loggingSteps", "saveSteps", "evalSteps", "trainOnResponsesOnly",
    "datasetFormat", "datasetSplit", "dryRun",
  ]);
  assert.equal(config.loraR, 16);
  assert.equal(config.loraAlpha, 32);
  assert.equal(config.dryRun, false);
  assert.equal("name" in config, false);
  assert.equal("callbacks" in config, false);
  assert.equal("lora" in config, false);
});

test("undefined fields and unset lora extras are left out; null and falsy values stay", () => {
  const config = configOf(
    createTrainer({ ...BASE, lora: { r: 8, alpha: 16 }, maxSteps: undefined, warmupSteps: 0, datasetFormat: null }),
  );
  assert.deepEqual(config, {
    model: "m",
    datasetSource: { type: "huggingface", name: "x" },
    loraR: 8,
    loraAlpha: 16,
    warmupSteps: 0,
    datasetFormat: null,
  });
});

test("callbacks and name do not affect the configHash", () => {
  const a = createTrainer({ ...BASE, name: "a", callbacks: { onLog() {} } });
  const b = createTrainer({ ...BASE, name: "b", callbacks: {} });
  assert.equal(hashJobConfig(configOf(a)), hashJobConfig(configOf(b)));
});

test("the three brands are non-enumerable, non-writable global-registry symbols", () => {
  const trainer = createTrainer(BASE);
  for (const key of [INSPECT, REPLACE, EARLY_STOP]) {
    const descriptor = Object.getOwnPropertyDescriptor(trainer, key);
    assert.ok(descriptor, `missing ${String(key)}`);
    assert.equal(typeof descriptor.value, "function");
    assert.equal(descriptor.enumerable, false);
    assert.equal(descriptor.writable, false);
  }
  assert.deepEqual(Object.keys(trainer).sort(), ["cancel", "name", "start", "wait"]);
  assert.deepEqual(JSON.parse(JSON.stringify(trainer)), { name: "run" });
  assert.deepEqual(Object.getOwnPropertySymbols({ ...trainer }), []);
});

test("inspect returns name, config and the live callbacks; replaceCallbacks swaps them", () => {
  const first = { onLog() {} };
  const second = { onCheckpoint() {} };
  const trainer = createTrainer({ ...BASE, callbacks: first });
  const snapshot = trainer[INSPECT]();
  assert.equal(snapshot.name, "run");
  assert.equal(snapshot.callbacks, first);
  trainer[REPLACE](second);
  assert.equal(trainer[INSPECT]().callbacks, second);
  assert.equal(trainer[INSPECT]().config, snapshot.config);
});

test("createArkor returns a frozen manifest with _kind arkor", () => {
  const trainer = createTrainer(BASE);
  const arkor = createArkor({ trainer });
  assert.equal(arkor._kind, "arkor");
  assert.equal(arkor.trainer, trainer);
  assert.ok(Object.isFrozen(arkor));
  assert.ok(isArkor(arkor));
  assert.equal(isArkor({ trainer }), false);
  assert.equal(isArkor(null), false);
});

test("a run dispatches onStarted, onLog, onCheckpoint, onCompleted in order", async () => {
  const events = [];
  const trainer = createTrainer(
    {
      ...BASE,
      maxSteps: 4,
      saveSteps: 2,
      callbacks: {
        onStarted: ({ job }) => events.push(`started:${job.status}`),
        onLog: ({ step, loss, learningRate }) => {
          assert.equal(typeof loss, "number");
          assert.equal(typeof learningRate, "number");
          events.push(`log:${step}`);
        },
        onCheckpoint: ({ step, adapter }) => events.push(`checkpoint:${step}:${adapter.kind}`),
        onCompleted: ({ job }) => events.push(`completed:${job.status}`),
      },
    },
    { env: FAST },
  );
  const { jobId } = await trainer.start();
  assert.match(jobId, /^sim-[0-9a-f]{12}$/);
  const result = await trainer.wait();
  assert.equal(result.job.status, "completed");
  assert.deepEqual(events, [
    "started:running", "log:1", "log:2", "checkpoint:2:checkpoint", "log:3", "log:4",
    "checkpoint:4:checkpoint", "completed:completed",
  ]);
});

test("loss falls over the run", async () => {
  const losses = [];
  const trainer = createTrainer(
    { ...BASE, maxSteps: 30, callbacks: { onLog: ({ loss }) => losses.push(loss) } },
    { env: { ...FAST, ARKOR_SIM_STEP_MS: "1" } },
  );
  await trainer.wait();
  assert.equal(losses.length, 30);
  assert.ok(losses[29] < losses[0] / 2, `loss ${losses[0]} -> ${losses[29]}`);
});

test("a simulated failure calls onFailed and resolves with status failed", async () => {
  let failure = null;
  const trainer = createTrainer(
    { ...BASE, maxSteps: 10, callbacks: { onFailed: ({ error }) => { failure = error; } } },
    { env: { ...FAST, ARKOR_SIM_FAIL_AT_STEP: "3" } },
  );
  const result = await trainer.wait();
  assert.equal(result.job.status, "failed");
  assert.match(failure, /Simulated failure at step 3/);
});

test("a throwing callback rejects wait() with the user's error", async () => {
  const boom = new Error("boom");
  const trainer = createTrainer(
    { ...BASE, maxSteps: 2, callbacks: { onCompleted: () => { throw boom; } } },
    { env: FAST },
  );
  await assert.rejects(trainer.wait(), (err) => err === boom);
});

test("replaceCallbacks takes effect on the next event of a live run", async () => {
  const seen = [];
  let trainer;
  trainer = createTrainer(
    {
      ...BASE,
      maxSteps: 4,
      callbacks: {
        onLog: ({ step }) => {
          seen.push(`old:${step}`);
          if (step === 2) trainer[REPLACE]({ onLog: ({ step: s }) => seen.push(`new:${s}`) });
        },
      },
    },
    { env: FAST },
  );
  await trainer.wait();
  assert.deepEqual(seen, ["old:1", "old:2", "new:3", "new:4"]);
});

test("early stop waits for the next checkpoint, then cancels", async () => {
  const seen = [];
  let trainer;
  trainer = createTrainer(
    {
      ...BASE,
      maxSteps: 1000,
      saveSteps: 5,
      callbacks: {
        onLog: ({ step }) => {
          seen.push(`log:${step}`);
          if (step === 2) stopped = trainer[EARLY_STOP]();
        },
        onCheckpoint: ({ step }) => seen.push(`checkpoint:${step}`),
      },
    },
    { env: FAST },
  );
  let stopped;
  const result = await trainer.wait();
  await stopped;
  assert.equal(result.job.status, "cancelled");
  assert.deepEqual(seen.slice(-2), ["log:5", "checkpoint:5"]);
  assert.equal(result.artifacts.length, 1);
  // Terminal now: a later request resolves at once.
  await trainer[EARLY_STOP]();
});

test("early stop before start() and after the end resolves at once", async () => {
  const trainer = createTrainer({ ...BASE, maxSteps: 1 }, { env: FAST });
  await trainer[EARLY_STOP]();
  await trainer.wait();
  await trainer[EARLY_STOP]();
});

test("early stop with no checkpoint in time cancels at the deadline", async () => {
  const trainer = createTrainer({ ...BASE, maxSteps: 100000, saveSteps: 100000 }, { env: FAST });
  await trainer.start();
  const waiting = trainer.wait();
  const started = Date.now();
  await trainer[EARLY_STOP]({ timeoutMs: 80 });
  assert.ok(Date.now() - started >= 75, "resolved before the deadline");
  const result = await waiting;
  assert.equal(result.job.status, "cancelled");
});

test("a failing cancel rejects the early stop and marks the job failed", async () => {
  const trainer = createTrainer(
    { ...BASE, maxSteps: 1000, saveSteps: 3 },
    { env: { ...FAST, ARKOR_SIM_CANCEL_FAIL: "1" } },
  );
  await trainer.start();
  const waiting = trainer.wait();
  await assert.rejects(trainer[EARLY_STOP](), (err) => err instanceof CloudApiError && err.status === 503);
  const result = await waiting;
  assert.equal(result.job.status, "failed");
  assert.match(result.job.error, /^Early-stop cancel failed: Simulated cancel failure/);
});

test("repeated early-stop requests share one promise", async () => {
  const trainer = createTrainer({ ...BASE, maxSteps: 1000, saveSteps: 4 }, { env: FAST });
  await trainer.start();
  const waiting = trainer.wait();
  const first = trainer[EARLY_STOP]();
  const second = trainer[EARLY_STOP]();
  await Promise.all([first, second, waiting]);
  assert.equal((await waiting).job.status, "cancelled");
});

test("an early stop requested while the job is being created still cancels it", async () => {
  const trainer = createTrainer(
    { ...BASE, maxSteps: 1000, saveSteps: 3 },
    { env: { ...FAST, ARKOR_SIM_START_MS: "40" } },
  );
  const starting = trainer.start();
  const stopping = trainer[EARLY_STOP]({ timeoutMs: 30 });
  await starting;
  const waiting = trainer.wait();
  await stopping;
  assert.equal((await waiting).job.status, "cancelled");
});

test("invalid simulation settings are reported by start()", async () => {
  const trainer = createTrainer(BASE, { env: { ARKOR_SIM_STEP_MS: "fast" } });
  await assert.rejects(trainer.start(), /ARKOR_SIM_STEP_MS must be an integer >= 0, got "fast"/);
});

test("abortSignal rejects wait()", async () => {
  const controller = new AbortController();
  const trainer = createTrainer(
    { ...BASE, maxSteps: 100000, abortSignal: controller.signal },
    { env: FAST },
  );
  const waiting = trainer.wait();
  setTimeout(() => controller.abort(new Error("user abort")), 30);
  await assert.rejects(waiting, /user abort/);
});

test("checkpoint infer() answers like the chat endpoint", async () => {
  let reply = null;
  const trainer = createTrainer(
    {
      ...BASE,
      maxSteps: 1,
      saveSteps: 1,
      callbacks: {
        onCheckpoint: async ({ infer }) => {
          const res = await infer({ messages: [{ role: "user", content: "hi" }], stream: false });
          reply = (await res.json()).choices[0].message.content;
        },
      },
    },
    { env: FAST },
  );
  await trainer.wait();
  assert.match(reply, /checkpoint 1/);
});

test("checkpoint infer() honours a JSON schema and streams when asked", async () => {
  const replies = [];
  const schema = {
    type: "object",
    properties: { category: { type: "string" }, urgency: { type: "string", enum: ["low", "high"] }, tags: { type: "array", items: { type: "string" } } },
    required: ["category", "urgency", "tags"],
  };
  const trainer = createTrainer(
    {
      ...BASE,
      maxSteps: 1,
      saveSteps: 1,
      callbacks: {
        onCheckpoint: async ({ infer }) => {
          const structured = await infer({
            messages: [{ role: "user", content: "I can't log in." }],
            stream: false,
            responseFormat: { type: "json_schema", json_schema: { name: "triage", schema, strict: true } },
          });
          replies.push(JSON.parse((await structured.json()).choices[0].message.content));
          const streamed = await infer({ messages: [{ role: "user", content: "hi" }] });
          assert.equal(streamed.headers.get("content-type"), "text/event-stream");
          const text = await streamed.text();
          const content = text
            .split("\n\n")
            .filter((frame) => frame.startsWith("data: ") && frame !== "data: [DONE]")
            .map((frame) => JSON.parse(frame.slice(6)).choices[0].delta.content)
            .join("");
          replies.push(content);
          assert.ok(text.trimEnd().endsWith("data: [DONE]"));
        },
      },
    },
    { env: FAST },
  );
  await trainer.wait();
  assert.deepEqual(replies[0], { category: "simulated", urgency: "low", tags: ["simulated"] });
  assert.match(replies[1], /^\(simulated reply from sim-[0-9a-f]{12} checkpoint 1\) You said: "hi"\./);
});
