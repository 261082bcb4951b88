// The `arkor` command line of the simulated SDK: `start` is the runner and `sim-cloud` runs
// the simulated cloud on its own; every other real subcommand needs the Arkor cloud or the
// real toolchain and says so.
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";

import { SIM_CLOUD_USAGE, runSimCloud } from "./cloud/main.mjs";
import { runTrainer } from "./runner.mjs";

const ARTIFACT = ".arkor/build/index.mjs";
const RUNNABLE_ENTRY = /\.(mjs|js)$/;
const REAL_ONLY_COMMANDS = new Set(["init", "login", "logout", "whoami", "build", "dev"]);

export function sdkVersion() {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  return pkg.version;
}

function usage() {
  return [
    `Usage: arkor <command>   (simulated arkor SDK ${sdkVersion()})`,
    "",
    "Commands:",
    "  start [entry]   Run the build artifact at .arkor/build/index.mjs (or an .mjs/.js entry)",
    "  sim-cloud       Run the simulated Arkor cloud on 127.0.0.1 (see `arkor sim-cloud --help`)",
    "",
    "init, login, logout, whoami, build and dev need the real arkor package.",
    "",
  ].join("\n");
}

/** `arkor start [entry]`. The real SDK bundles a TypeScript entry first; this one cannot. */
export async function runStart(entry, cwd = process.cwd()) {
  if (entry !== undefined) {
    if (!RUNNABLE_ENTRY.test(entry)) {
      throw new Error(
        `The simulated arkor SDK cannot bundle ${entry}; build the project with arkor tui (\`arkor build\`) and run \`arkor start\` without an entry, or pass an already-built .mjs file.`,
      );
    }
    await runTrainer(isAbsolute(entry) ? entry : resolve(cwd, entry));
    return;
  }
  const artifact = resolve(cwd, ARTIFACT);
  if (!existsSync(artifact)) {
    throw new Error(
      `Build artifact not found: ${artifact}. The simulated arkor SDK cannot bundle TypeScript; build it first with arkor tui (\`arkor build\`).`,
    );
  }
  await runTrainer(artifact);
}

/**
 * Runs one command. Returns the exit code for commands that only print something, undefined
 * after a run (whatever exit code the run or the user code chose stands).
 */
export async function main(argv) {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(usage());
    return 0;
  }
  if (command === "--version" || command === "-V") {
    process.stdout.write(`${sdkVersion()}\n`);
    return 0;
  }
  if (command === "start") {
    const positional = rest.filter((arg) => !arg.startsWith("-"));
    if (positional.length > 1) {
      process.stderr.write("error: too many arguments for 'start'. Expected 0 or 1 argument.\n");
      return 1;
    }
    await runStart(positional[0]);
    return undefined;
  }
  if (command === "sim-cloud") {
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(SIM_CLOUD_USAGE);
      return 0;
    }
    try {
      await runSimCloud(rest);
    } catch (err) {
      process.stderr.write(`arkor sim-cloud: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
    return undefined;
  }
  if (REAL_ONLY_COMMANDS.has(command)) {
    process.stderr.write(
      `arkor ${command} is not available in the simulated arkor SDK (${sdkVersion()}); only \`arkor start\` and \`arkor sim-cloud\` are. Install the real arkor package for ${command}.\n`,
    );
    return 1;
  }
  process.stderr.write(`error: unknown command '${command}'\n${usage()}`);
  return 1;
}
