// Test helpers: throw-away projects with the SDK installed the way arkor tui installs it (a copy
// in node_modules/arkor), and runner child processes with line-level waits.
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const SDK_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const WAIT_TIMEOUT_MS = 10_000;

/** A project dir with the SDK copied into node_modules/arkor; removed by `t.after`. */
export function makeProject(t, artifactSource) {
  const root = mkdtempSync(join(tmpdir(), "arkor-sim-test-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  cpSync(SDK_DIR, join(root, "node_modules", "arkor"), {
    recursive: true,
    filter: (src) => !src.startsWith(join(SDK_DIR, "test")),
  });
  mkdirSync(join(root, ".arkor", "build"), { recursive: true });
  const project = {
    root,
    artifact: join(root, ".arkor", "build", "index.mjs"),
    /** Replace the artifact the way the console does: staging file + rename. */
    writeArtifact(source) {
      const staging = `${project.artifact}.hmr-staging`;
      writeFileSync(staging, source);
      renameSync(staging, project.artifact);
    },
  };
  if (artifactSource !== undefined) project.writeArtifact(artifactSource);
  return project;
}

/** Fast simulation defaults for tests; individual tests override. */
export const FAST_SIM_ENV = {
  ARKOR_SIM_STEP_MS: "15",
  ARKOR_SIM_START_MS: "5",
  ARKOR_SIM_CANCEL_MS: "5",
};

/**
 * `node node_modules/arkor/bin.mjs start` in the project, stdio piped. Killed (if still
 * running) by `t.after`.
 */
export function startRunner(t, project, { env = {}, args = ["start"] } = {}) {
  const childEnv = { ...process.env, ...FAST_SIM_ENV, ...env };
  delete childEnv.ARKOR_JOB_ID_MARKER_NONCE;
  if (env.ARKOR_JOB_ID_MARKER_NONCE !== undefined) {
    childEnv.ARKOR_JOB_ID_MARKER_NONCE = env.ARKOR_JOB_ID_MARKER_NONCE;
  }
  const child = spawn(process.execPath, [join(project.root, "node_modules", "arkor", "bin.mjs"), ...args], {
    cwd: project.root,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const runner = new Runner(child);
  t.after(() => {
    if (runner.exit === null) child.kill("SIGKILL");
  });
  return runner;
}

class Runner {
  constructor(child) {
    this.child = child;
    this.stdout = "";
    this.stderr = "";
    this.exit = null;
    this.waiters = [];
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      this.stdout += chunk;
      this.poke();
    });
    child.stderr.on("data", (chunk) => {
      this.stderr += chunk;
      this.poke();
    });
    this.exited = new Promise((resolve) => {
      child.on("close", (code, signal) => {
        this.exit = { code, signal };
        this.poke();
        resolve(this.exit);
      });
    });
  }

  get stdoutLines() {
    return this.stdout.split("\n").filter((line) => line !== "");
  }

  poke() {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves once `predicate()` holds; rejects on timeout or when the child exits first. */
  until(what, predicate, timeoutMs = WAIT_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = predicate();
        if (value) {
          finish();
          resolve(value);
        } else if (this.exit !== null) {
          finish();
          reject(new Error(`runner exited (${JSON.stringify(this.exit)}) before ${what}\n${this.transcript()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out waiting for ${what}\n${this.transcript()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  /** Waits until stdout (or stderr) matches `pattern`; returns the match. */
  waitFor(pattern, stream = "stdout") {
    return this.until(`${stream} ~ ${pattern}`, () => this[stream].match(pattern));
  }

  /** Number of lines of stdout matching `pattern`. */
  count(pattern) {
    return this.stdoutLines.filter((line) => pattern.test(line)).length;
  }

  async waitForExit(timeoutMs = WAIT_TIMEOUT_MS) {
    await this.until("exit", () => this.exit !== null, timeoutMs);
    return this.exit;
  }

  signal(name) {
    this.child.kill(name);
  }

  transcript() {
    return `--- stdout ---\n${this.stdout}--- stderr ---\n${this.stderr}`;
  }
}

/**
 * A built artifact (what Rolldown would emit: `arkor` stays an external import) exporting one
 * trainer created with the real createTrainer. `tag` appears in every callback line so a test
 * can tell which callbacks are live; `input` is merged into the TrainerInput.
 */
export function trainerArtifact({ tag, input = {}, shape = "arkor-manifest", prelude = "" }) {
  const inputText = JSON.stringify({
    name: "sim-test",
    model: "unsloth/gemma-3-270m-it",
    dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
    maxSteps: 100000,
    saveSteps: 100000,
    ...input,
  });
  const exportLine = {
    "arkor-manifest": "export const arkor = createArkor({ trainer });",
    "arkor-trainer": "export const arkor = trainer;",
    "trainer": "export { trainer };",
    "default-manifest": "export default createArkor({ trainer });",
    "default-trainer": "export default trainer;",
    "default-object": "export default { trainer };",
  }[shape];
  return `import { createArkor, createTrainer } from "arkor";
${prelude}
const TAG = ${JSON.stringify(tag)};
const trainer = createTrainer({
  ...${inputText},
  callbacks: {
    onStarted: ({ job }) => console.log(\`[\${TAG}] started \${job.id} name=\${trainer.name}\`),
    onLog: ({ step, loss, learningRate }) =>
      console.log(\`[\${TAG}] step=\${step} loss=\${loss?.toFixed(4)} lr=\${learningRate}\`),
    onCheckpoint: ({ step }) => console.log(\`[\${TAG}] checkpoint step=\${step}\`),
    onCompleted: ({ job }) => console.log(\`[\${TAG}] completed \${job.status}\`),
    onFailed: ({ error }) => console.log(\`[\${TAG}] failed: \${error}\`),
  },
});
void createArkor;
${exportLine}
`;
}
