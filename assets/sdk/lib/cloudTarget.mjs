// Which simulated cloud a runner talks to: the one at ARKOR_CLOUD_API_URL (arkor tui starts
// one per session and points its runs at it), or, without that variable, one hosted inside
// this process on an ephemeral loopback port. Either way the runner speaks HTTP to it, so
// training events reach every client through the same wire format.
import { SDK_VERSION } from "./cloudClient.mjs";
import { tokenMs } from "./simKnobs.mjs";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** One in-process cloud per process, shared by its trainers while any of them needs it. */
let hosted = null;

function stripTrailingSlashes(url) {
  let end = url.length;
  while (end > 0 && url[end - 1] === "/") end -= 1;
  return url.slice(0, end);
}

/** The simulated SDK never reaches a real cloud: only a simulated one on this machine. */
function assertLocal(baseUrl) {
  let host = null;
  try {
    const url = new URL(baseUrl);
    if (url.protocol === "http:") host = url.hostname;
  } catch {
    // reported below
  }
  if (host === null || !LOOPBACK_HOSTS.has(host)) {
    throw new Error(
      `The simulated arkor SDK (${SDK_VERSION}) only talks to a simulated cloud on this machine, but ARKOR_CLOUD_API_URL is ${JSON.stringify(baseUrl)}. Unset it (the runner then simulates the cloud itself), or install the real arkor package to train on the Arkor cloud.`,
    );
  }
}

/**
 * `{ baseUrl, persistent, home, hosted, release }`. `persistent`: credentials under ARKOR_SIM_HOME and the
 * project's `.arkor/state.json` are used (only with a cloud that outlives this process).
 * Call `release()` once the trainer is done with the cloud.
 */
export async function connectCloud(env) {
  if (env.ARKOR_CLOUD_API_URL !== undefined) {
    const baseUrl = stripTrailingSlashes(env.ARKOR_CLOUD_API_URL);
    assertLocal(baseUrl);
    const home = env.ARKOR_SIM_HOME?.trim() ? env.ARKOR_SIM_HOME : null;
    return { baseUrl, persistent: home !== null, home, hosted: false, release: () => undefined };
  }
  if (!hosted) {
    hosted = {
      users: 0,
      ready: (async () => {
        // Loaded only here: a runner pointed at an external cloud never loads the server.
        const { createSimCloud } = await import("./cloud/server.mjs");
        const cloud = createSimCloud({ unrefTimers: true, tokenMs: tokenMs(env) });
        return { cloud, url: await cloud.listen(0) };
      })(),
    };
  }
  const current = hosted;
  current.users += 1;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    current.users -= 1;
    if (current.users === 0 && hosted === current) {
      hosted = null;
      current.ready.then(({ cloud }) => cloud.close(), () => undefined);
    }
  };
  try {
    const { url } = await current.ready;
    return { baseUrl: url, persistent: false, home: null, hosted: true, release };
  } catch (err) {
    release();
    throw err;
  }
}
