// The runner end to end: real `node bin.mjs start` processes, real signals, real files.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { makeProject, startRunner, trainerArtifact } from "./helpers.mjs";

const NONCE = "0123456789abcdef0123456789abcdef";
const MARKER = new RegExp(`^\\[arkor:${NONCE}\\] Started job (\\S+)$`, "m");
const PLAIN_MARKER = /^Started job (sim-[0-9a-f]{12})$/m;
const HOT_RELOADED = "Callbacks hot-reloaded; training run continues.";
const CONFIG_SKIP =
  "Callback reload skipped: rebuilt bundle's config differs from the running job's; waiting for the restart signal.";

// Independent processes: run them side by side to keep the suite short.
describe("runner", { concurrency: true }, () => {
  // At most 4 x 3 runner processes at a time: the machine may be busy.
  describe("job id marker and environment", { concurrency: 3 }, () => {
    test("with a nonce: prefixed marker on stdout, exit 0 on completion", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: { maxSteps: 3 } }));
      const runner = startRunner(t, project, { env: { ARKOR_JOB_ID_MARKER_NONCE: NONCE } });
      const exit = await runner.waitForExit();
      assert.deepEqual(exit, { code: 0, signal: null }, runner.transcript());
      const jobId = runner.stdout.match(MARKER)?.[1];
      assert.match(jobId ?? "", /^sim-[0-9a-f]{12}$/, runner.transcript());
      assert.equal(runner.count(/Started job/), 1);
      assert.equal(runner.count(/^\[v1\] completed completed$/), 1);
      assert.ok(runner.stdoutLines.includes(`Job ${jobId} finished with status=completed`));
      // The marker comes before any training output.
      assert.ok(runner.stdout.indexOf("Started job") < runner.stdout.indexOf("[v1] step=1"));
    });

    test("without a nonce (or with a blank one) the marker has no prefix", async (t) => {
      for (const env of [{}, { ARKOR_JOB_ID_MARKER_NONCE: "   " }]) {
        const project = makeProject(t, trainerArtifact({ tag: "v1", input: { maxSteps: 1 } }));
        const runner = startRunner(t, project, { env });
        assert.equal((await runner.waitForExit()).code, 0, runner.transcript());
        assert.match(runner.stdout, PLAIN_MARKER);
        assert.doesNotMatch(runner.stdout, /\[arkor:/);
      }
    });

    test("the nonce is deleted from the environment before user code runs", async (t) => {
      const prelude =
        'console.log("user-sees-nonce=" + JSON.stringify(process.env.ARKOR_JOB_ID_MARKER_NONCE ?? null));\n' +
        'console.log("Started job forged-by-user");';
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: { maxSteps: 1 }, prelude }));
      const runner = startRunner(t, project, { env: { ARKOR_JOB_ID_MARKER_NONCE: NONCE } });
      assert.equal((await runner.waitForExit()).code, 0, runner.transcript());
      assert.ok(runner.stdoutLines.includes("user-sees-nonce=null"), runner.transcript());
      // Only the runner's line carries the nonce.
      assert.equal(runner.stdoutLines.filter((line) => MARKER.test(line)).length, 1);
    });

    test("a failed job calls onFailed and exits 0 like the real runner", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: { maxSteps: 10 } }));
      const runner = startRunner(t, project, { env: { ARKOR_SIM_FAIL_AT_STEP: "2" } });
      assert.equal((await runner.waitForExit()).code, 0, runner.transcript());
      assert.match(runner.stdout, /^\[v1\] failed: Simulated failure at step 2/m);
      assert.match(runner.stdout, /^Job sim-\S+ finished with status=failed$/m);
    });

    test("a throwing callback ends the runner with exit 1 and the error on stderr", async (t) => {
      const source = trainerArtifact({ tag: "v1", input: { maxSteps: 10 } }).replace(
        "onFailed:",
        'onFailed: () => { throw new Error("onFailed exploded"); }, unused:',
      );
      const project = makeProject(t, source);
      const runner = startRunner(t, project, { env: { ARKOR_SIM_FAIL_AT_STEP: "1" } });
      assert.equal((await runner.waitForExit()).code, 1, runner.transcript());
      assert.match(runner.stderr, /Error: onFailed exploded/);
    });

    test("a missing artifact, a module without a trainer and an import-time throw exit 1", async (t) => {
      const missing = makeProject(t);
      const noArtifact = startRunner(t, missing);
      assert.equal((await noArtifact.waitForExit()).code, 1);
      assert.match(noArtifact.stderr, /Build artifact not found: .*\.arkor\/build\/index\.mjs/);

      const noTrainer = startRunner(t, makeProject(t, "export const nothing = 1;\n"));
      assert.equal((await noTrainer.waitForExit()).code, 1);
      assert.match(noTrainer.stderr, /Training entry must export `arkor`/);

      const throwing = startRunner(t, makeProject(t, 'throw new Error("import-time boom");\n'));
      assert.equal((await throwing.waitForExit()).code, 1);
      assert.match(throwing.stderr, /import-time boom/);
    });

    test("other subcommands are refused with exit 1; --version prints the version", async (t) => {
      const project = makeProject(t);
      for (const command of ["dev", "login", "build"]) {
        const runner = startRunner(t, project, { args: [command] });
        assert.equal((await runner.waitForExit()).code, 1);
        assert.match(runner.stderr, new RegExp(`arkor ${command} is not available in the simulated arkor SDK`));
      }
      const version = startRunner(t, project, { args: ["--version"] });
      assert.equal((await version.waitForExit()).code, 0);
      assert.equal(version.stdout, "0.0.0-sim\n");
    });

    test("start with an .mjs entry runs that file; a .ts entry is refused", async (t) => {
      const project = makeProject(t);
      project.writeArtifact(trainerArtifact({ tag: "entry", input: { maxSteps: 1 } }));
      const runner = startRunner(t, project, { args: ["start", ".arkor/build/index.mjs"] });
      assert.equal((await runner.waitForExit()).code, 0, runner.transcript());
      assert.match(runner.stdout, /^\[entry\] completed completed$/m);
      const ts = startRunner(t, project, { args: ["start", "src/arkor/index.ts"] });
      assert.equal((await ts.waitForExit()).code, 1);
      assert.match(ts.stderr, /cannot bundle src\/arkor\/index\.ts/);
    });
  });

  describe("shutdown signals", { concurrency: 3 }, () => {
    test("SIGTERM: early stop at the next checkpoint, then exit 0", async (t) => {
      const project = makeProject(
        t,
        trainerArtifact({ tag: "v1", input: { maxSteps: 100000, saveSteps: 8 } }),
      );
      const runner = startRunner(t, project);
      await runner.waitFor(/^\[v1\] step=2 /m);
      runner.signal("SIGTERM");
      const exit = await runner.waitForExit();
      assert.deepEqual(exit, { code: 0, signal: null }, runner.transcript());
      const lines = runner.stdoutLines;
      const received = lines.indexOf("Received SIGTERM; early-stopping at next checkpoint…");
      assert.ok(received >= 0, runner.transcript());
      // Training went on until a checkpoint landed after the signal, and stopped there.
      const after = lines.slice(received + 1);
      const checkpoint = after.findIndex((line) => /^\[v1\] checkpoint step=\d+$/.test(line));
      assert.ok(checkpoint >= 0, runner.transcript());
      assert.equal(after.slice(checkpoint + 1).some((line) => /step=/.test(line)), false, runner.transcript());
      assert.equal(runner.count(/completed/), 0);
    });

    test("SIGINT and SIGHUP: early stop succeeds, exit 130 and 129", async (t) => {
      await Promise.all(
        [["SIGINT", 130], ["SIGHUP", 129]].map(async ([signal, code]) => {
          const project = makeProject(t, trainerArtifact({ tag: "v1", input: { saveSteps: 4 } }));
          const runner = startRunner(t, project);
          await runner.waitFor(/^\[v1\] step=1 /m);
          runner.signal(signal);
          assert.deepEqual(await runner.waitForExit(), { code, signal: null }, runner.transcript());
          assert.ok(runner.stdoutLines.includes(`Received ${signal}; early-stopping at next checkpoint…`));
          assert.match(runner.stdout, /^\[v1\] checkpoint step=\d+$/m);
        }),
      );
    });

    test("SIGTERM while the job is being created: the new job is still stopped at a checkpoint", async (t) => {
      // Printed from a timer: the runner installs its handlers right after the import settles
      // (as the real one does), so a signal sent on a line printed during the import itself
      // could land before them and kill the process (seen 1 run in ~7).
      const prelude = 'setTimeout(() => console.log("imported"), 0);';
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: { saveSteps: 2 }, prelude }));
      const runner = startRunner(t, project, { env: { ARKOR_SIM_START_MS: "1500" } });
      await runner.waitFor(/^imported$/m);
      runner.signal("SIGTERM");
      assert.deepEqual(await runner.waitForExit(), { code: 0, signal: null }, runner.transcript());
      const lines = runner.stdoutLines;
      assert.ok(lines.indexOf("Received SIGTERM; early-stopping at next checkpoint…") < lines.findIndex((l) => /^Started job /.test(l)));
      assert.match(runner.stdout, /^\[v1\] checkpoint step=2$/m);
      assert.equal(runner.count(/step=3 /), 0, runner.transcript());
    });

    test("second SIGTERM: exit 143 at once, without the checkpoint", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1" }));
      const runner = startRunner(t, project);
      await runner.waitFor(/^\[v1\] step=1 /m);
      runner.signal("SIGTERM");
      await runner.waitFor(/^Received SIGTERM; early-stopping at next checkpoint…$/m);
      runner.signal("SIGTERM");
      assert.deepEqual(await runner.waitForExit(), { code: 143, signal: null }, runner.transcript());
      assert.ok(
        runner.stdoutLines.includes("Received second SIGTERM; exiting without waiting for checkpoint."),
        runner.transcript(),
      );
      assert.equal(runner.count(/checkpoint step=/), 0);
    });

    test("second SIGINT exits 130, second SIGHUP 129", async (t) => {
      await Promise.all(
        [["SIGINT", 130], ["SIGHUP", 129]].map(async ([signal, code]) => {
          const runner = startRunner(t, makeProject(t, trainerArtifact({ tag: "v1" })));
          await runner.waitFor(/^\[v1\] step=1 /m);
          runner.signal(signal);
          await runner.waitFor(new RegExp(`^Received ${signal}; `, "m"));
          runner.signal(signal);
          assert.deepEqual(await runner.waitForExit(), { code, signal: null }, runner.transcript());
          assert.match(runner.stdout, new RegExp(`^Received second ${signal}; exiting without waiting for checkpoint\\.$`, "m"));
        }),
      );
    });

    test("no checkpoint before the early-stop deadline: the job is cancelled, exit 0", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1" }));
      const runner = startRunner(t, project, { env: { ARKOR_SIM_EARLY_STOP_TIMEOUT_MS: "300" } });
      await runner.waitFor(/^\[v1\] step=1 /m);
      const signalledAt = Date.now();
      runner.signal("SIGTERM");
      assert.deepEqual(await runner.waitForExit(), { code: 0, signal: null }, runner.transcript());
      const elapsed = Date.now() - signalledAt;
      assert.ok(elapsed >= 290, `exited ${elapsed} ms after SIGTERM, before the 300 ms deadline`);
      assert.equal(runner.count(/checkpoint step=/), 0);
    });

    test("a failing early stop exits 128+n with the error on stderr", async (t) => {
      await Promise.all(
        [["SIGTERM", 143], ["SIGINT", 130]].map(async ([signal, code]) => {
          const project = makeProject(t, trainerArtifact({ tag: "v1", input: { saveSteps: 3 } }));
          const runner = startRunner(t, project, { env: { ARKOR_SIM_CANCEL_FAIL: "1" } });
          await runner.waitFor(/^\[v1\] step=1 /m);
          runner.signal(signal);
          assert.deepEqual(await runner.waitForExit(), { code, signal: null }, runner.transcript());
          assert.match(runner.stderr, /^requestEarlyStop failed: Simulated cancel failure \(ARKOR_SIM_CANCEL_FAIL=1\)$/m);
        }),
      );
    });

    test("a second signal never calls the early stop again (hand-rolled branded trainer)", async (t) => {
      const source = `
        const trainer = {
          name: "hand-rolled",
          start: async () => ({ jobId: "hand-1" }),
          wait: () => new Promise(() => { setInterval(() => {}, 1000); }),
          cancel: async () => { console.log("cancel-called"); },
        };
        Object.defineProperty(trainer, Symbol.for("arkor.trainer.requestEarlyStop"), {
          value: () => { console.log("early-stop-called"); return new Promise(() => {}); },
        });
        export { trainer };
      `;
      const runner = startRunner(t, makeProject(t, source));
      await runner.waitFor(/^Started job hand-1$/m);
      runner.signal("SIGTERM");
      await runner.waitFor(/^early-stop-called$/m);
      runner.signal("SIGTERM");
      assert.equal((await runner.waitForExit()).code, 143, runner.transcript());
      assert.equal(runner.count(/^early-stop-called$/), 1);
      assert.equal(runner.count(/^cancel-called$/), 0);
    });

    test("an unbranded trainer falls back to cancel() on the first signal", async (t) => {
      const source = `
        export default {
          name: "plain",
          start: async () => ({ jobId: "plain-1" }),
          wait: () => new Promise(() => { setInterval(() => {}, 1000); }),
          cancel: async () => { console.log("cancel-called"); },
        };
      `;
      const runner = startRunner(t, makeProject(t, source));
      await runner.waitFor(/^Started job plain-1$/m);
      runner.signal("SIGTERM");
      assert.equal((await runner.waitForExit()).code, 0, runner.transcript());
      assert.equal(runner.count(/^cancel-called$/), 1);
    });
  });

  describe("SIGUSR2 callback reload", { concurrency: 3 }, () => {
    const config = { maxSteps: 100000, saveSteps: 100000, learningRate: 2e-4 };

    test("same config: callbacks swapped, the run continues", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: config }));
      const runner = startRunner(t, project, { env: { ARKOR_JOB_ID_MARKER_NONCE: NONCE } });
      const jobId = (await runner.waitFor(MARKER))[1];
      await runner.waitFor(/^\[v1\] step=2 /m);
      project.writeArtifact(trainerArtifact({ tag: "v2", input: config }));
      runner.signal("SIGUSR2");
      await runner.waitFor(/^Callbacks hot-reloaded; training run continues\.$/m);
      await runner.waitFor(/^\[v2\] step=\d+ /m);
      const lines = runner.stdoutLines;
      const swap = lines.indexOf(HOT_RELOADED);
      assert.equal(lines.slice(swap + 1).some((line) => line.startsWith("[v1]")), false, runner.transcript());
      // Same job, same process: no new marker.
      assert.equal(runner.count(/Started job/), 1);
      assert.equal(runner.stdout.match(MARKER)[1], jobId);
      assert.equal(runner.stderr, "");
      assert.equal(runner.exit, null);
    });

    test("key order only: still the same configHash, swapped", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: config }));
      const runner = startRunner(t, project);
      await runner.waitFor(/^\[v1\] step=1 /m);
      const reordered = { learningRate: config.learningRate, saveSteps: config.saveSteps, maxSteps: config.maxSteps };
      project.writeArtifact(trainerArtifact({ tag: "v2", input: reordered }));
      runner.signal("SIGUSR2");
      await runner.waitFor(/^\[v2\] step=\d+ /m);
      assert.equal(runner.count(/^Callbacks hot-reloaded; training run continues\.$/), 1);
    });

    test("changed config: skip line on stderr, old callbacks stay", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: config }));
      const runner = startRunner(t, project);
      await runner.waitFor(/^\[v1\] step=1 /m);
      project.writeArtifact(trainerArtifact({ tag: "v2", input: { ...config, learningRate: 1e-4 } }));
      runner.signal("SIGUSR2");
      await runner.waitFor(/Callback reload skipped/, "stderr");
      assert.equal(runner.stderr, `${CONFIG_SKIP}\n`);
      const stepsAtSkip = runner.count(/^\[v1\] step=/);
      await runner.until("two more v1 steps", () => runner.count(/^\[v1\] step=/) >= stepsAtSkip + 2);
      assert.equal(runner.count(/^\[v2\]/), 0);
      assert.equal(runner.count(/hot-reloaded/), 0);
    });

    test("a bundle without a trainer or one that throws: skip / failure lines, run continues", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: config }));
      const runner = startRunner(t, project);
      await runner.waitFor(/^\[v1\] step=1 /m);
      project.writeArtifact("export const nothing = 1;\n");
      runner.signal("SIGUSR2");
      await runner.waitFor(/^Callback reload skipped: rebuilt bundle has no inspectable trainer\.$/m, "stderr");
      project.writeArtifact('throw new Error("reload-time boom");\n');
      runner.signal("SIGUSR2");
      await runner.waitFor(/^Callback reload failed: reload-time boom$/m, "stderr");
      const steps = runner.count(/^\[v1\] step=/);
      await runner.until("the run to go on", () => runner.count(/^\[v1\] step=/) > steps);
      assert.equal(runner.exit, null);
    });

    test("overlapping reloads: only the newest applies", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: config }));
      const runner = startRunner(t, project);
      await runner.waitFor(/^\[v1\] step=1 /m);
      // v2 is slow to import (top-level await); v3, signalled while v2 is still loading, is fast.
      const slow = 'console.log("v2 loading"); await new Promise((r) => setTimeout(r, 1500)); console.log("v2 loaded");';
      project.writeArtifact(trainerArtifact({ tag: "v2", input: config, prelude: slow }));
      runner.signal("SIGUSR2");
      await runner.waitFor(/^v2 loading$/m);
      project.writeArtifact(trainerArtifact({ tag: "v3", input: config }));
      runner.signal("SIGUSR2");
      await runner.waitFor(/^v2 loaded$/m);
      const stepsAfterV2 = runner.count(/^\[v3\] step=/);
      await runner.until("more v3 steps", () => runner.count(/^\[v3\] step=/) >= stepsAfterV2 + 3);
      assert.equal(runner.count(/^Callbacks hot-reloaded; training run continues\.$/), 1, runner.transcript());
      assert.equal(runner.count(/^\[v2\]/), 0, runner.transcript());
      assert.equal(runner.stderr, "");
    });

    test("after a swap, SIGTERM still early-stops the same job", async (t) => {
      const project = makeProject(t, trainerArtifact({ tag: "v1", input: { ...config, saveSteps: 6 } }));
      const runner = startRunner(t, project);
      await runner.waitFor(/^\[v1\] step=1 /m);
      project.writeArtifact(trainerArtifact({ tag: "v2", input: { ...config, saveSteps: 6 } }));
      runner.signal("SIGUSR2");
      await runner.waitFor(/^Callbacks hot-reloaded/m);
      runner.signal("SIGTERM");
      assert.equal((await runner.waitForExit()).code, 0, runner.transcript());
      assert.match(runner.stdout, /^\[v2\] checkpoint step=\d+$/m);
    });
  });

  describe("the six export shapes", { concurrency: 3 }, () => {
    const shapes = ["arkor-manifest", "arkor-trainer", "trainer", "default-manifest", "default-trainer", "default-object"];
    for (const shape of shapes) {
      test(`runs a trainer exported as ${shape}`, async (t) => {
        const project = makeProject(t, trainerArtifact({ tag: shape, input: { maxSteps: 1 }, shape }));
        const runner = startRunner(t, project);
        assert.equal((await runner.waitForExit()).code, 0, runner.transcript());
        assert.match(runner.stdout, new RegExp(`^\\[${shape}\\] completed completed$`, "m"));
      });
    }
  });
});
