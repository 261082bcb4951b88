// A trainer against a simulated cloud it does not host (as under arkor tui): the real
// runner's sign-in and project bootstrap (ARKOR_SIM_HOME, .arkor/state.json), its stream
// reconnect with Last-Event-ID, and the refusal to talk to anything but a local cloud.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "node:test";

import { createTrainer } from "../index.mjs";
import { CLIENT, startCloud } from "./cloudHelpers.mjs";

const BASE = { name: "remote", model: "m", dataset: { type: "huggingface", name: "x" } };
const FAST = { ARKOR_SIM_STEP_MS: "5", ARKOR_SIM_START_MS: "1", ARKOR_SIM_CANCEL_MS: "1" };

function tempDir(t, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("with ARKOR_SIM_HOME: signs in once, writes credentials there and the project state as the real SDK does", async (t) => {
  const { url, cloud } = await startCloud(t);
  const home = tempDir(t, "arkor-sim-home-");
  const cwd = tempDir(t, "Arkor Project!-");
  const env = { ...FAST, ARKOR_CLOUD_API_URL: `${url}//`, ARKOR_SIM_HOME: home };
  const first = createTrainer({ ...BASE, maxSteps: 2 }, { env, cwd });
  assert.equal((await first.wait()).job.status, "completed");

  const credentialsFile = join(home, ".arkor", "credentials.json");
  const credentials = JSON.parse(readFileSync(credentialsFile, "utf8"));
  assert.equal(statSync(credentialsFile).mode & 0o777, 0o600);
  assert.deepEqual(Object.keys(credentials), ["mode", "token", "anonymousId", "arkorCloudApiUrl", "orgSlug"]);
  assert.equal(credentials.arkorCloudApiUrl, url, "trailing slashes stripped");
  const stateText = readFileSync(join(cwd, ".arkor", "state.json"), "utf8");
  assert.ok(stateText.endsWith("}\n"));
  const state = JSON.parse(stateText);
  assert.equal(state.orgSlug, credentials.orgSlug);
  const expectedSlug = basename(cwd).toLowerCase().replaceAll(/[^a-z0-9-]/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
  assert.equal(state.projectSlug, expectedSlug);

  // A second run reuses both: no new identity, same project, the job list has both jobs.
  const second = createTrainer({ ...BASE, maxSteps: 2 }, { env, cwd });
  await second.wait();
  assert.deepEqual(JSON.parse(readFileSync(credentialsFile, "utf8")), credentials);
  assert.equal(cloud.store.identities.size, 1);
  const jobs = await (
    await fetch(`${url}/v1/jobs?orgSlug=${state.orgSlug}&projectSlug=${state.projectSlug}`, {
      headers: { ...CLIENT, Authorization: `Bearer ${credentials.token}` },
    })
  ).json();
  assert.equal(jobs.jobs.length, 2);
});

test("a state.json of another anonymous org is never overwritten: start() fails saying what to do", async (t) => {
  const { url } = await startCloud(t);
  const home = tempDir(t, "arkor-sim-home-");
  const cwd = tempDir(t, "arkor-stale-");
  mkdirSync(join(cwd, ".arkor"));
  const stale = `${JSON.stringify({ orgSlug: "anon-gone", projectSlug: "p", projectId: "x" }, null, 2)}\n`;
  writeFileSync(join(cwd, ".arkor", "state.json"), stale);
  const trainer = createTrainer(BASE, { env: { ...FAST, ARKOR_CLOUD_API_URL: url, ARKOR_SIM_HOME: home }, cwd });
  await assert.rejects(trainer.start(), /state\.json names an organization .* Delete \.arkor\/state\.json/);
  assert.equal(readFileSync(join(cwd, ".arkor", "state.json"), "utf8"), stale);
});

test("without ARKOR_SIM_HOME nothing is read or written: the identity and project live in memory", async (t) => {
  const { url } = await startCloud(t);
  const cwd = tempDir(t, "arkor-memory-");
  const trainer = createTrainer({ ...BASE, maxSteps: 1 }, { env: { ...FAST, ARKOR_CLOUD_API_URL: url }, cwd });
  assert.equal((await trainer.wait()).job.status, "completed");
  assert.equal(existsSync(join(cwd, ".arkor")), false);
});

test("only a cloud on this machine: another ARKOR_CLOUD_API_URL is refused before any request", async () => {
  for (const url of ["https://api.arkor.ai", "http://10.0.0.1:8080", "", "not a url"]) {
    const trainer = createTrainer(BASE, { env: { ...FAST, ARKOR_CLOUD_API_URL: url } });
    await assert.rejects(trainer.start(), /only talks to a simulated cloud on this machine/, url);
  }
});

test("a dropped event stream is resumed with Last-Event-ID: every step once, in order", async (t) => {
  const { url, cloud } = await startCloud(t);
  const streamRequests = [];
  cloud.server.prependListener("request", (req, res) => {
    if (!req.url.includes("/events/stream")) return;
    streamRequests.push(req.headers["last-event-id"] ?? null);
    // Cut the first two connections mid-run.
    if (streamRequests.length <= 2) setTimeout(() => res.destroy(), 60);
  });
  const steps = [];
  const trainer = createTrainer(
    { ...BASE, maxSteps: 40, callbacks: { onLog: ({ step }) => steps.push(step) } },
    { env: { ...FAST, ARKOR_SIM_STEP_MS: "8", ARKOR_CLOUD_API_URL: url }, reconnectDelayMs: 5 },
  );
  const result = await trainer.wait();
  assert.equal(result.job.status, "completed");
  assert.deepEqual(steps, Array.from({ length: 40 }, (_, i) => i + 1));
  assert.equal(streamRequests[0], null, "the first request has no Last-Event-ID");
  assert.ok(streamRequests.length >= 3, `reconnected: ${JSON.stringify(streamRequests)}`);
  for (const id of streamRequests.slice(1)) assert.match(id ?? "", /^\d+-evt-\d+$/);
});

test("a stream answered 401 fails the wait at once instead of retrying", async (t) => {
  const { url, cloud } = await startCloud(t);
  cloud.server.prependListener("request", (req) => {
    // Revoke every identity once the job exists: the stream request is then unauthorised.
    if (req.url.includes("/events/stream")) cloud.store.identities.clear();
  });
  const trainer = createTrainer({ ...BASE, maxSteps: 5 }, { env: { ...FAST, ARKOR_CLOUD_API_URL: url } });
  await assert.rejects(trainer.wait(), (err) => err.status === 401 && /Invalid or expired token/.test(err.message));
});
