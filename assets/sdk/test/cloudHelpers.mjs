// Helpers for the simulated cloud's tests: a cloud on an ephemeral loopback port per test, a
// signed-in anonymous identity with a project, and a small independent HTTP + SSE client
// (fetch), so the server is checked against its wire format, not against the SDK's client.
import { createSimCloud } from "../lib/cloud/server.mjs";

export const CLIENT = { "X-Arkor-Client": "arkor/0.0.0-sim" };
const WAIT_MS = 20_000;

/** A cloud for this test, closed by `t.after`. */
export async function startCloud(t, options = {}) {
  const cloud = createSimCloud({ tokenMs: 2, ...options });
  const url = await cloud.listen(0);
  t.after(() => cloud.close());
  return { cloud, url };
}

/** An anonymous identity with a project `slug`; `api` calls the cloud as it. */
export async function signedIn(url, slug = "proj") {
  const anon = await (await fetch(`${url}/v1/auth/anonymous`, { method: "POST", headers: CLIENT, body: '{"kind":"cli"}' })).json();
  const headers = { ...CLIENT, Authorization: `Bearer ${anon.token}` };
  const org = anon.personalOrg.slug;
  const created = await fetch(`${url}/v1/projects?orgSlug=${org}`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: slug, slug }),
  });
  if (created.status !== 201) throw new Error(`project create: ${created.status} ${await created.text()}`);
  const scope = `orgSlug=${encodeURIComponent(org)}&projectSlug=${encodeURIComponent(slug)}`;
  const api = async (method, path, { body, raw, headers: extra } = {}) => {
    const sep = path.includes("?") ? "&" : "?";
    const res = await fetch(`${url}${path}${sep}${scope}`, {
      method,
      headers: { ...headers, ...extra },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, text, json };
  };
  return { anon, headers, org, slug, scope, api };
}

export const TRAIN_CONFIG = { model: "unsloth/gemma-3-270m-it", datasetSource: { type: "huggingface", name: "arkorlab/triage-demo" } };

/** A job created through the API with fast simulation knobs. */
export async function createJob(session, { config = {}, simulation = {} } = {}) {
  const res = await session.api("POST", "/v1/jobs", {
    body: {
      name: "cloud-test",
      config: { ...TRAIN_CONFIG, ...config },
      simulation: { stepMs: 5, startDelayMs: 0, cancelDelayMs: 0, ...simulation },
    },
  });
  if (res.status !== 201) throw new Error(`job create: ${res.status} ${res.text}`);
  return res.json.job;
}

/** Parse SSE text into frames `{ id, event, data }` (data JSON-decoded when it is JSON). */
export function parseFrames(text) {
  const frames = [];
  for (const block of text.split("\n\n")) {
    if (block.trim() === "") continue;
    const frame = { id: undefined, event: "message", data: "" };
    const data = [];
    for (const line of block.split("\n")) {
      const colon = line.indexOf(":");
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") frame.id = value;
      else if (field === "event") frame.event = value;
      else if (field === "data") data.push(value);
    }
    frame.data = data.join("\n");
    try {
      frame.data = JSON.parse(frame.data);
    } catch {
      // keep the raw text ([DONE])
    }
    frames.push(frame);
  }
  return frames;
}

/**
 * Open the job's event stream and collect frames until `until(frames)` holds or the server
 * ends the stream; `lastEventId` resumes. Returns `{ frames, ended }`.
 */
export async function readStream(url, session, jobId, { lastEventId, until } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("stream read timed out")), WAIT_MS);
  const res = await fetch(`${url}/v1/jobs/${jobId}/events/stream?${session.scope}`, {
    headers: { ...session.headers, Accept: "text/event-stream", ...(lastEventId && { "Last-Event-ID": lastEventId }) },
    signal: controller.signal,
  });
  if (res.status !== 200) throw new Error(`stream: ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      text += decoder.decode(value, { stream: true });
      const complete = text.slice(0, text.lastIndexOf("\n\n") + 2);
      if (until?.(parseFrames(complete))) break;
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => undefined);
  }
  return { frames: parseFrames(text.slice(0, text.lastIndexOf("\n\n") + 2)), ended, headers: res.headers };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `fn` until it returns a truthy value. */
export async function eventually(what, fn) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
