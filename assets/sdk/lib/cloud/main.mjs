// `arkor sim-cloud`: run the simulated cloud as its own process. Prints one JSON line,
// `{"type":"listening","url":"http://127.0.0.1:<port>","pid":<pid>}`, on stdout once it
// accepts connections; stops (ending running jobs and saving its records) on SIGTERM, SIGINT
// or SIGHUP.
import { tokenMs } from "../simKnobs.mjs";
import { adoptAccount } from "./adopt.mjs";
import { createSimCloud } from "./server.mjs";

export const SIM_CLOUD_USAGE = [
  "Usage: arkor sim-cloud [--port N | --listen-fd FD] [--data DIR] [--home DIR [--project DIR]] [--seed-history] [--token-ms N] [--ping-ms N] [--verbose]",
  "",
  "  --port N         port on 127.0.0.1 (default 0: any free port)",
  "  --listen-fd FD   accept on this already-listening socket instead (its parent bound it)",
  "  --data DIR       keep accounts, projects, jobs and endpoints in DIR across restarts",
  "  --home DIR       the anonymous account in DIR/.arkor/credentials.json is known to this cloud",
  "  --project DIR    so is the project DIR/.arkor/state.json names for that account",
  "  --seed-history   give each project two finished earlier jobs before its first one",
  "  --token-ms N     delay between streamed chat tokens (default: ARKOR_SIM_TOKEN_MS or 30)",
  "  --ping-ms N      keep-alive interval of idle event streams (default 15000)",
  "  --verbose        one line per request on stderr",
  "",
].join("\n");

function parseArgs(argv, env) {
  const options = { port: 0, listenFd: null, dataDir: null, home: null, projectDir: null, seedHistory: false, tokenMs: undefined, pingMs: undefined, verbose: false };
  const integer = (flag, value) => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < 0) {
      throw new Error(`${flag} needs a non-negative integer, got ${JSON.stringify(value ?? null)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    switch (arg) {
      case "--port":
        options.port = integer(arg, argv[++i]);
        break;
      case "--listen-fd":
        options.listenFd = integer(arg, argv[++i]);
        break;
      case "--data":
        options.dataDir = argv[++i];
        if (!options.dataDir) throw new Error("--data needs a directory");
        break;
      case "--home":
        options.home = argv[++i];
        if (!options.home) throw new Error("--home needs a directory");
        break;
      case "--project":
        options.projectDir = argv[++i];
        if (!options.projectDir) throw new Error("--project needs a directory");
        break;
      case "--seed-history":
        options.seedHistory = true;
        break;
      case "--token-ms":
        options.tokenMs = integer(arg, argv[++i]);
        break;
      case "--ping-ms":
        options.pingMs = integer(arg, argv[++i]);
        if (options.pingMs === 0) throw new Error("--ping-ms must be at least 1");
        break;
      case "--verbose":
        options.verbose = true;
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(arg)}\n${SIM_CLOUD_USAGE}`);
    }
  }
  options.tokenMs ??= tokenMs(env);
  return options;
}

/** Runs until a stop signal; resolves once listening. */
export async function runSimCloud(argv, env = process.env) {
  const options = parseArgs(argv, env);
  const cloud = createSimCloud({
    dataDir: options.dataDir,
    seedHistory: options.seedHistory,
    tokenMs: options.tokenMs,
    pingMs: options.pingMs,
    log: options.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
  });
  if (options.home) adoptAccount(cloud.store, { home: options.home, projectDir: options.projectDir });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    cloud.close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`arkor sim-cloud: ${err?.message ?? err}\n`);
        process.exit(1);
      },
    );
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, stop);
  const url = await cloud.listen(options.listenFd === null ? options.port : { fd: options.listenFd });
  process.stdout.write(`${JSON.stringify({ type: "listening", url, pid: process.pid })}\n`);
}
