// The simulated cloud over real HTTP on loopback: job event streams (history replay,
// Last-Event-ID, ping, end), job list order, cancel, chat streaming, endpoints and keys,
// sign-in and scope checks, realistic 4xx answers, persistence and seeded history.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";

import { createSimCloud } from "../lib/cloud/server.mjs";
import { CLIENT, TRAIN_CONFIG, createJob, eventually, parseFrames, readStream, signedIn, startCloud } from "./cloudHelpers.mjs";
import { SDK_DIR } from "./helpers.mjs";

describe("job event stream", { concurrency: true }, () => {
  test("frames carry id, event and a JSON data with type, jobId and timestamp; end closes the stream", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 4, saveSteps: 2, evalSteps: 2 } });
    const { frames, ended } = await readStream(url, session, job.id);
    assert.ok(ended, "the server closes the stream after end");
    const last = frames.at(-1);
    assert.equal(last.event, "end");
    assert.equal(last.id, undefined);
    assert.deepEqual(Object.keys(last.data).sort(), ["jobId", "status", "timestamp", "type"]);
    assert.equal(last.data.status, "completed");
    const training = frames.slice(0, -1);
    assert.deepEqual(
      training.map((f) => `${f.event}${f.data.step === undefined ? "" : `:${f.data.step}`}${f.data.evalLoss ? ":eval" : ""}`),
      [
        "training.started",
        "training.log:1", "training.log:2", "training.log:2:eval", "checkpoint.saved:2",
        "training.log:3", "training.log:4", "training.log:4:eval", "checkpoint.saved:4",
        "training.completed",
      ],
    );
    training.forEach((frame, i) => {
      assert.match(frame.id, /^\d+-evt-\d+$/);
      assert.equal(frame.id.split("-evt-")[1], String(i + 1));
      assert.equal(frame.data.type, frame.event, "the JSON type names the event");
      assert.equal(frame.data.jobId, job.id);
      assert.ok(!Number.isNaN(Date.parse(frame.data.timestamp)));
    });
    const log = training[1].data;
    for (const key of ["step", "loss", "evalLoss", "learningRate", "epoch", "samplesPerSecond"]) {
      assert.ok(key in log, `training.log has ${key}`);
    }
    assert.equal(typeof log.loss, "number");
    assert.equal(log.evalLoss, null);
    const evalLog = training[3].data;
    assert.equal(evalLog.loss, null);
    assert.equal(typeof evalLog.evalLoss, "number");
    assert.deepEqual(training[4].data.artifacts, [{ kind: "checkpoint", step: 2, uri: `sim://${job.id}/checkpoint-2` }]);
  });

  test("every subscriber sees the whole history, then the same live frames", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 40 }, simulation: { stepMs: 10 } });
    const early = readStream(url, session, job.id);
    // Join late, once some history exists.
    await readStream(url, session, job.id, { until: (frames) => frames.some((f) => f.data.step >= 10) });
    const late = readStream(url, session, job.id);
    const [a, b] = await Promise.all([early, late]);
    assert.deepEqual(
      b.frames.map((f) => f.id),
      a.frames.map((f) => f.id),
    );
    assert.deepEqual(b.frames, a.frames);
    assert.equal(a.frames.filter((f) => f.event === "training.log").length, 40);
  });

  test("Last-Event-ID resumes right after that frame; an unknown id replays everything", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 12, saveSteps: 5 } });
    const all = (await readStream(url, session, job.id)).frames;
    const cut = all[5];
    const resumed = (await readStream(url, session, job.id, { lastEventId: cut.id })).frames;
    assert.deepEqual(resumed, all.slice(6));
    const steps = [...all.slice(0, 6), ...resumed].filter((f) => f.event === "training.log").map((f) => f.data.step);
    assert.deepEqual(steps, [...new Set(steps)], "no step twice");
    for (const unknown of ["999999-evt-3", "garbage", `${cut.id.split("-evt-")[0]}-evt-9999`]) {
      const replayed = (await readStream(url, session, job.id, { lastEventId: unknown })).frames;
      assert.deepEqual(replayed, all, `Last-Event-ID ${unknown}`);
    }
  });

  test("a live stream resumed mid-run continues without gaps or duplicates", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 30 }, simulation: { stepMs: 10 } });
    const first = await readStream(url, session, job.id, { until: (frames) => frames.some((f) => f.data.step === 8) });
    const rest = await readStream(url, session, job.id, { lastEventId: first.frames.at(-1).id });
    const steps = [...first.frames, ...rest.frames].filter((f) => f.event === "training.log").map((f) => f.data.step);
    assert.deepEqual(steps, Array.from({ length: 30 }, (_, i) => i + 1));
  });

  test("an idle stream sends ping keep-alives", async (t) => {
    const { url } = await startCloud(t, { pingMs: 20 });
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 3 }, simulation: { stepMs: 150 } });
    const { frames } = await readStream(url, session, job.id, { until: (fs) => fs.some((f) => f.event === "ping") });
    const ping = frames.find((f) => f.event === "ping");
    assert.equal(ping.id, undefined);
    assert.equal(ping.data.type, "ping");
    assert.equal(ping.data.jobId, job.id);
  });

  test("a failing job ends with training.failed {error, step} and its status", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 10 }, simulation: { failAtStep: 3 } });
    const { frames } = await readStream(url, session, job.id);
    const failed = frames.at(-2);
    assert.equal(failed.event, "training.failed");
    assert.equal(failed.data.step, 3);
    assert.match(failed.data.error, /Simulated failure at step 3/);
    assert.equal(frames.at(-1).data.status, "failed");
    const { json } = await session.api("GET", `/v1/jobs/${job.id}`);
    assert.equal(json.job.status, "failed");
    assert.match(json.job.error, /Simulated failure at step 3/);
  });
});

describe("jobs", { concurrency: true }, () => {
  test("create answers 201 {job} in the SDK's shape; the list is newest first", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const first = await createJob(session, { simulation: { stepMs: 100000 } });
    assert.deepEqual(Object.keys(first), [
      "id", "orgId", "projectId", "name", "status", "config", "error", "createdAt", "startedAt", "completedAt",
    ]);
    assert.match(first.id, /^sim-[0-9a-f]{12}$/);
    assert.equal(first.status, "queued");
    assert.deepEqual(first.config, TRAIN_CONFIG);
    assert.equal("simulation" in first.config, false);
    const second = await createJob(session, { simulation: { stepMs: 100000 } });
    const third = await createJob(session, { simulation: { stepMs: 100000 } });
    const { status, json } = await session.api("GET", "/v1/jobs");
    assert.equal(status, 200);
    assert.deepEqual(json.jobs.map((j) => j.id), [third.id, second.id, first.id]);
    const other = await signedIn(url, "other");
    assert.deepEqual((await other.api("GET", "/v1/jobs")).json, { jobs: [] }, "jobs stay in their project");
    assert.equal((await other.api("GET", `/v1/jobs/${first.id}`)).status, 404);
  });

  test("bad create bodies get 400 naming every problem, before any job exists", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const cases = [
      [{ raw: "{not json" }, /^Invalid JSON body$/],
      [{ body: [] }, /must be a JSON object/],
      [{ body: { config: TRAIN_CONFIG } }, /^Invalid job body: name: expected string, received undefined$/],
      [{ body: { name: "x", config: { datasetSource: {} } } }, /config\.model: expected string/],
      [{ body: { name: "x", config: { model: "m" } } }, /config\.datasetSource: expected object/],
      [{ body: { name: "", config: "m" } }, /name: must be at least 1 characters; config: expected object/],
      [{ body: { name: "x", config: TRAIN_CONFIG, simulation: { stepMs: -1 } } }, /simulation\.stepMs: must be >= 0/],
      [{ body: { name: "x", config: TRAIN_CONFIG, simulation: { cancelFails: "yes" } } }, /simulation\.cancelFails: expected boolean/],
    ];
    for (const [request, message] of cases) {
      const res = await session.api("POST", "/v1/jobs", request);
      assert.equal(res.status, 400, res.text);
      assert.match(res.json.error, message);
    }
    assert.deepEqual((await session.api("GET", "/v1/jobs")).json.jobs, []);
  });

  test("cancel stops a running job and ends its stream; a finished job answers 409", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 100000 }, simulation: { stepMs: 10 } });
    const stream = readStream(url, session, job.id);
    await eventually("some steps", async () => (await session.api("GET", `/v1/jobs/${job.id}`)).json.job.status === "running");
    const cancelled = await session.api("POST", `/v1/jobs/${job.id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.json.job.status, "cancelled");
    assert.ok(cancelled.json.job.completedAt);
    const { frames, ended } = await stream;
    assert.ok(ended);
    assert.deepEqual(frames.at(-1).data, { ...frames.at(-1).data, type: "end", status: "cancelled" });
    assert.equal(frames.some((f) => f.event === "training.completed" || f.event === "training.failed"), false);
    const again = await session.api("POST", `/v1/jobs/${job.id}/cancel`);
    assert.equal(again.status, 409);
    assert.match(again.json.error, /already cancelled/);
    assert.equal((await session.api("POST", "/v1/jobs/sim-000000000000/cancel")).status, 404);
  });

  test("a job created with cancelFails answers cancel with 503 and keeps running", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 100000 }, simulation: { stepMs: 10, cancelFails: true } });
    const res = await session.api("POST", `/v1/jobs/${job.id}/cancel`);
    assert.equal(res.status, 503);
    assert.equal(res.json.error, "Simulated cancel failure (ARKOR_SIM_CANCEL_FAIL=1)");
    assert.notEqual((await session.api("GET", `/v1/jobs/${job.id}`)).json.job.status, "cancelled");
  });
});

describe("inference chat", { concurrency: true }, () => {
  async function finishedJob(t) {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 4, saveSteps: 2 } });
    await readStream(url, session, job.id);
    return { url, session, job };
  }

  test("streams OpenAI-style deltas token by token, then data: [DONE]", async (t) => {
    const { session, job } = await finishedJob(t);
    const res = await session.api("POST", "/v1/inference/chat", {
      body: { adapter: { kind: "final", jobId: job.id }, messages: [{ id: 1, role: "user", content: "Where is my order?" }], stream: true },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const frames = parseFrames(res.text);
    assert.equal(frames.at(-1).data, "[DONE]");
    const chunks = frames.slice(0, -1).map((f) => f.data);
    assert.ok(chunks.length > 5, "one frame per token");
    for (const chunk of chunks) {
      assert.equal(chunk.object, "chat.completion.chunk");
      assert.equal(chunk.model, TRAIN_CONFIG.model);
    }
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");
    const text = chunks.map((c) => c.choices[0].delta.content ?? "").join("");
    assert.match(text, new RegExp(`^\\(simulated reply from ${job.id} final\\) You said: "Where is my order\\?"`));
  });

  test("checkpoint and base-model targets; stream: false answers one JSON completion", async (t) => {
    const { session, job } = await finishedJob(t);
    const checkpoint = await session.api("POST", "/v1/inference/chat", {
      body: { adapter: { kind: "checkpoint", jobId: job.id, step: 2 }, messages: [{ role: "user", content: "hi" }], stream: false },
    });
    assert.equal(checkpoint.status, 200);
    assert.equal(checkpoint.json.object, "chat.completion");
    assert.match(checkpoint.json.choices[0].message.content, new RegExp(`^\\(simulated reply from ${job.id} checkpoint 2\\)`));
    const base = await session.api("POST", "/v1/inference/chat", {
      body: { baseModel: "unsloth/gemma-4-E4B-it", messages: [{ role: "user", content: "hi" }], stream: false, maxTokens: 3 },
    });
    assert.equal(base.json.model, "unsloth/gemma-4-E4B-it");
    assert.equal(base.json.choices[0].finish_reason, "length");
    assert.equal(base.json.usage.completion_tokens, 3);
  });

  test("errors are non-2xx JSON: bad bodies 400, unknown job or checkpoint 404, no final adapter yet 409", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const running = await createJob(session, { config: { maxSteps: 100000, saveSteps: 100000 }, simulation: { stepMs: 50 } });
    const user = [{ role: "user", content: "hi" }];
    const cases = [
      [{ raw: "nope" }, 400, /^Invalid JSON body$/],
      [{ body: { baseModel: "m" } }, 400, /messages: expected array/],
      [{ body: { baseModel: "m", messages: [] } }, 400, /messages: must contain at least 1 message/],
      [{ body: { baseModel: "m", messages: [{ role: "robot", content: "x" }] } }, 400, /messages\.0\.role: expected one of/],
      [{ body: { messages: user } }, 400, /\(root\): give baseModel or adapter/],
      [{ body: { baseModel: "m", adapter: { kind: "final", jobId: running.id }, messages: user } }, 400, /not both/],
      [{ body: { adapter: { kind: "checkpoint", jobId: running.id }, messages: user } }, 400, /adapter\.step: expected integer/],
      [{ body: { adapter: { kind: "latest", jobId: running.id }, messages: user } }, 400, /adapter\.kind/],
      [{ body: { adapter: { kind: "final", jobId: "sim-000000000000" }, messages: user } }, 404, /not found/],
      [{ body: { adapter: { kind: "final", jobId: running.id }, messages: user } }, 409, /no final adapter/],
      [{ body: { adapter: { kind: "checkpoint", jobId: running.id, step: 7 }, messages: user } }, 404, /no checkpoint at step 7/],
    ];
    for (const [request, status, message] of cases) {
      const res = await session.api("POST", "/v1/inference/chat", request);
      assert.equal(res.status, status, `${JSON.stringify(request)}: ${res.text}`);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.match(res.json.error, message);
    }
  });
});

describe("endpoints", { concurrency: true }, () => {
  test("create, list newest first, read, disable, keys (plaintext once), revoke, delete", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 2 } });
    await readStream(url, session, job.id);
    const created = await session.api("POST", "/v1/endpoints", {
      body: { slug: "triage-bot", target: { kind: "adapter", adapter: { kind: "final", jobId: job.id } }, authMode: "fixed_api_key" },
    });
    assert.equal(created.status, 201, created.text);
    const deployment = created.json.deployment;
    for (const key of ["id", "slug", "orgId", "projectId", "target", "authMode", "urlFormat", "enabled", "customDomain", "createdAt", "updatedAt"]) {
      assert.ok(key in deployment, `deployment has ${key}`);
    }
    assert.equal(deployment.urlFormat, "openai_compat");
    assert.equal(deployment.enabled, true);
    assert.equal(deployment.customDomain, null);
    assert.deepEqual([deployment.runRetentionMode, deployment.runRetentionDays], ["days", 7]);
    const base = await session.api("POST", "/v1/endpoints", {
      body: { slug: "base-model", target: { kind: "base_model", baseModel: "unsloth/gemma-4-E4B-it" }, authMode: "none", runRetentionMode: "disabled" },
    });
    assert.equal(base.status, 201, base.text);
    assert.equal("runRetentionDays" in base.json.deployment, false);
    const list = await session.api("GET", "/v1/endpoints");
    assert.deepEqual(list.json.deployments.map((d) => d.slug), ["base-model", "triage-bot"]);
    assert.deepEqual((await session.api("GET", `/v1/endpoints/${deployment.id}`)).json.deployment, deployment);

    const disabled = await session.api("PATCH", `/v1/endpoints/${deployment.id}`, { body: { enabled: false } });
    assert.equal(disabled.status, 200);
    assert.equal(disabled.json.deployment.enabled, false);
    assert.ok(disabled.json.deployment.updatedAt >= deployment.updatedAt);

    const key = await session.api("POST", `/v1/endpoints/${deployment.id}/keys`, { body: { label: "  production  " } });
    assert.equal(key.status, 201);
    assert.deepEqual(Object.keys(key.json.key).sort(), ["createdAt", "id", "label", "plaintext", "prefix"]);
    assert.equal(key.json.key.label, "production");
    assert.ok(key.json.key.plaintext.startsWith(key.json.key.prefix));
    const keys = await session.api("GET", `/v1/endpoints/${deployment.id}/keys`);
    assert.deepEqual(keys.json.keys, [
      { id: key.json.key.id, label: "production", prefix: key.json.key.prefix, enabled: true, createdAt: key.json.key.createdAt, lastUsedAt: null },
    ]);
    assert.equal(keys.text.includes(key.json.key.plaintext), false, "the plaintext is shown once");
    const revoked = await session.api("DELETE", `/v1/endpoints/${deployment.id}/keys/${key.json.key.id}`);
    assert.equal(revoked.status, 204);
    assert.equal((await session.api("GET", `/v1/endpoints/${deployment.id}/keys`)).json.keys[0].enabled, false);
    assert.equal((await session.api("DELETE", `/v1/endpoints/${deployment.id}/keys/nope`)).status, 404);

    assert.equal((await session.api("DELETE", `/v1/endpoints/${deployment.id}`)).status, 204);
    assert.equal((await session.api("GET", `/v1/endpoints/${deployment.id}`)).status, 404);
    assert.equal((await session.api("GET", `/v1/endpoints/${deployment.id}/keys`)).status, 404);
    assert.deepEqual((await session.api("GET", "/v1/endpoints")).json.deployments.map((d) => d.slug), ["base-model"]);
  });

  test("bad bodies get 400 with path: issue items; a taken slug 409; a missing adapter 404", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const target = { kind: "base_model", baseModel: "m" };
    const valid = { slug: "ok-slug", target, authMode: "none" };
    const cases = [
      [{ raw: "{not json" }, 400, /^Invalid JSON body$/],
      [{ body: { ...valid, slug: "x" } }, 400, /^Invalid deployment create body: slug: must be at least 2 characters$/],
      [{ body: { ...valid, slug: "-bad-leading" } }, 400, /slug: slug must be 2-50 chars/],
      [{ body: { ...valid, slug: "api" } }, 400, /"api" is reserved/],
      [{ body: { ...valid, authMode: "bogus" } }, 400, /authMode: expected one of "none" \| "fixed_api_key"/],
      [{ body: { ...valid, target: {} } }, 400, /target\.kind/],
      [{ body: { ...valid, target: { kind: "adapter", adapter: { jobId: "j" } } } }, 400, /target\.adapter\.kind/],
      [{ body: { ...valid, runRetentionMode: "forever" } }, 400, /runRetentionMode/],
      [{ body: { ...valid, runRetentionDays: 3 } }, 400, /only valid when runRetentionMode is "days"/],
      [{ body: { ...valid, runRetentionMode: "days" } }, 400, /requires a positive integer runRetentionDays/],
      [{ body: { ...valid, runRetentionMode: "days", runRetentionDays: -2 } }, 400, /runRetentionDays: must be >= 1/],
      [{ body: { ...valid, target: { kind: "adapter", adapter: { kind: "final", jobId: "sim-000000000000" } } } }, 404, /not found/],
    ];
    for (const [request, status, message] of cases) {
      const res = await session.api("POST", "/v1/endpoints", request);
      assert.equal(res.status, status, `${JSON.stringify(request)}: ${res.text}`);
      assert.match(res.json.error, message);
    }
    assert.deepEqual((await session.api("GET", "/v1/endpoints")).json.deployments, []);
    assert.equal((await session.api("POST", "/v1/endpoints", { body: valid })).status, 201);
    const taken = await (await signedIn(url, "elsewhere")).api("POST", "/v1/endpoints", { body: valid });
    assert.equal(taken.status, 409);
    assert.equal(taken.json.error, "Deployment slug is already taken");

    const id = (await session.api("GET", "/v1/endpoints")).json.deployments[0].id;
    for (const body of [[], "x", null, { enabled: "no" }, { colour: "red" }]) {
      const res = await session.api("PATCH", `/v1/endpoints/${id}`, { body });
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    }
    for (const body of [{}, { label: 123 }, { label: "   " }, { label: "x".repeat(81) }]) {
      const res = await session.api("POST", `/v1/endpoints/${id}/keys`, { body });
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.json.error, /`label`/);
    }
  });
});

describe("access", { concurrency: true }, () => {
  test("version gate 426, missing or unknown token 401, another org 403, unknown project 404, unknown route 404, wrong method 405", async (t) => {
    const { url } = await startCloud(t);
    const session = await signedIn(url);
    const other = await signedIn(url, "theirs");
    const get = (path, headers) => fetch(`${url}${path}`, { headers });
    const noClient = await get(`/v1/jobs?${session.scope}`, { Authorization: session.headers.Authorization });
    assert.equal(noClient.status, 426);
    assert.equal((await noClient.json()).error, "upgrade_required");
    assert.equal((await get(`/v1/jobs?${session.scope}`, CLIENT)).status, 401);
    assert.equal((await get(`/v1/jobs?${session.scope}`, { ...CLIENT, Authorization: "Bearer nope" })).status, 401);
    const foreign = await get(`/v1/jobs?${other.scope}`, session.headers);
    assert.equal(foreign.status, 403);
    assert.match((await foreign.json()).error, /not a member/);
    assert.equal((await get(`/v1/jobs?orgSlug=${session.org}&projectSlug=nope`, session.headers)).status, 404);
    assert.equal((await get(`/v1/jobs?orgSlug=${session.org}`, session.headers)).status, 400);
    assert.equal((await get("/v1/nothing", session.headers)).status, 404);
    const wrongMethod = await fetch(`${url}/v1/jobs?${session.scope}`, { method: "DELETE", headers: session.headers });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "GET, POST");
  });

  test("sign-in, /v1/me and projects answer the shapes the SDK decodes", async (t) => {
    const { url } = await startCloud(t);
    const config = await (await fetch(`${url}/v1/auth/cli/config`, { headers: CLIENT })).json();
    assert.deepEqual(config, { auth0Domain: "", clientId: "", audience: "", callbackPorts: [] });
    const session = await signedIn(url);
    assert.equal(session.anon.kind, "cli");
    assert.deepEqual(Object.keys(session.anon.personalOrg).sort(), ["id", "name", "slug"]);
    const me = await (await fetch(`${url}/v1/me`, { headers: session.headers })).json();
    assert.deepEqual(me.orgs.map((o) => o.slug), [session.org]);
    const listed = await (await fetch(`${url}/v1/projects?orgSlug=${session.org}`, { headers: session.headers })).json();
    assert.equal(listed.org.slug, session.org);
    assert.deepEqual(listed.projects.map((p) => p.slug), ["proj"]);
    const again = await fetch(`${url}/v1/projects?orgSlug=${session.org}`, {
      method: "POST",
      headers: session.headers,
      body: JSON.stringify({ name: "proj", slug: "proj" }),
    });
    assert.equal(again.status, 409);
    const badKind = await fetch(`${url}/v1/auth/anonymous`, { method: "POST", headers: CLIENT, body: '{"kind":"robot"}' });
    assert.equal(badKind.status, 400);
  });
});

describe("persistence and history", { concurrency: true }, () => {
  test("with a data directory, identities, jobs with their history and endpoints survive a restart", async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), "arkor-sim-cloud-"));
    let second = null;
    t.after(async () => {
      await second?.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const first = createSimCloud({ dataDir });
    const url = await first.listen(0);
    const session = await signedIn(url);
    const done = await createJob(session, { config: { maxSteps: 3 } });
    const history = (await readStream(url, session, done.id)).frames;
    const running = await createJob(session, { config: { maxSteps: 100000 }, simulation: { stepMs: 20 } });
    await readStream(url, session, running.id, { until: (frames) => frames.some((f) => f.data.step === 2) });
    assert.equal((await session.api("POST", "/v1/endpoints", { body: { slug: "kept", target: { kind: "base_model", baseModel: "m" }, authMode: "none" } })).status, 201);
    await first.close();

    second = createSimCloud({ dataDir });
    const url2 = await second.listen(0);
    const res = await fetch(`${url2}/v1/jobs?${session.scope}`, { headers: session.headers });
    assert.equal(res.status, 200, "the token and the project are still known");
    const jobs = (await res.json()).jobs;
    assert.deepEqual(jobs.map((j) => [j.id, j.status]), [[running.id, "failed"], [done.id, "completed"]]);
    assert.match(jobs[0].error, /simulated cloud stopped/);
    const replay = await readStream(url2, session, done.id);
    assert.deepEqual(replay.frames, history);
    const stopped = (await readStream(url2, session, running.id)).frames;
    assert.equal(stopped.at(-2).event, "training.failed");
    assert.equal(stopped.at(-1).data.status, "failed");
    const endpoints = await (await fetch(`${url2}/v1/endpoints?${session.scope}`, { headers: session.headers })).json();
    assert.deepEqual(endpoints.deployments.map((d) => d.slug), ["kept"]);
  });

  test("seeded history: a project's first job comes after two finished earlier runs with replayable curves", async (t) => {
    const { url } = await startCloud(t, { seedHistory: true });
    const session = await signedIn(url);
    const job = await createJob(session, { config: { maxSteps: 50, learningRate: 2e-4, saveSteps: 10 }, simulation: { stepMs: 100000 } });
    const { jobs } = (await session.api("GET", "/v1/jobs")).json;
    assert.equal(jobs.length, 3);
    assert.equal(jobs[0].id, job.id);
    assert.deepEqual(jobs.slice(1).map((j) => j.status), ["failed", "completed"]);
    assert.ok(jobs.slice(1).every((j) => j.name === "cloud-test" && Date.parse(j.completedAt) < Date.now() - 60_000));
    assert.deepEqual(jobs.slice(1).map((j) => j.config.learningRate), [1e-3, 1e-4]);
    const completed = (await readStream(url, session, jobs[2].id)).frames;
    assert.equal(completed.filter((f) => f.event === "training.log" && f.data.loss !== null).length, 50);
    assert.equal(completed.at(-2).event, "training.completed");
    const failed = (await readStream(url, session, jobs[1].id)).frames;
    assert.equal(failed.at(-2).event, "training.failed");
    assert.match(failed.at(-2).data.error, /diverged/);
    const chat = await session.api("POST", "/v1/inference/chat", {
      body: { adapter: { kind: "checkpoint", jobId: jobs[2].id, step: 10 }, messages: [{ role: "user", content: "hi" }], stream: false },
    });
    assert.equal(chat.status, 200, chat.text);
    await createJob(session, { simulation: { stepMs: 100000 } });
    assert.equal((await session.api("GET", "/v1/jobs")).json.jobs.length, 4, "history is seeded once");
  });
});

test("`arkor sim-cloud` prints one JSON line with its URL, serves, and exits 0 on SIGTERM", async (t) => {
  const child = spawn(process.execPath, [join(SDK_DIR, "bin.mjs"), "sim-cloud", "--port", "0", "--token-ms", "1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => child.kill("SIGKILL"));
  const line = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("\n")) resolve(out.split("\n")[0]);
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} before listening`)));
  });
  const ready = JSON.parse(line);
  assert.equal(ready.type, "listening");
  assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(ready.pid, child.pid);
  const config = await fetch(`${ready.url}/v1/auth/cli/config`, { headers: CLIENT });
  assert.equal(config.status, 200);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  child.kill("SIGTERM");
  assert.deepEqual(await exited, { code: 0, signal: null });
  await assert.rejects(fetch(`${ready.url}/v1/auth/cli/config`, { headers: CLIENT }));
});

test("`arkor sim-cloud --home --project` knows the account on file and its project from the first request", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "arkor-sim-adopt-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const home = join(dir, "home");
  const project = join(dir, "my-project");
  mkdirSync(join(home, ".arkor"), { recursive: true });
  mkdirSync(join(project, ".arkor"), { recursive: true });
  const token = "sim_anon_adopted";
  writeFileSync(
    join(home, ".arkor", "credentials.json"),
    JSON.stringify({ mode: "anon", token, anonymousId: "anon_1", arkorCloudApiUrl: "http://127.0.0.1:1", orgSlug: "anon-mine" }),
  );
  writeFileSync(join(project, ".arkor", "state.json"), JSON.stringify({ orgSlug: "anon-mine", projectSlug: "my-project", projectId: "p-1" }));
  const child = spawn(process.execPath, [join(SDK_DIR, "bin.mjs"), "sim-cloud", "--home", home, "--project", project], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => child.kill("SIGKILL"));
  const ready = await new Promise((resolve, reject) => {
    child.stdout.once("data", (chunk) => resolve(JSON.parse(String(chunk).split("\n")[0])));
    child.on("exit", (code) => reject(new Error(`exited ${code}`)));
  });
  const headers = { ...CLIENT, Authorization: `Bearer ${token}` };
  const jobs = await fetch(`${ready.url}/v1/jobs?orgSlug=anon-mine&projectSlug=my-project`, { headers });
  assert.equal(jobs.status, 200);
  assert.deepEqual(await jobs.json(), { jobs: [] });
  const projects = await (await fetch(`${ready.url}/v1/projects?orgSlug=anon-mine`, { headers })).json();
  assert.deepEqual(projects.projects.map((p) => [p.id, p.slug]), [["p-1", "my-project"]]);
  assert.equal((await fetch(`${ready.url}/v1/me`, { headers: { ...CLIENT, Authorization: "Bearer other" } })).status, 401);
});

test("`arkor sim-cloud` with a bad flag exits 1 and says why", async () => {
  const child = spawn(process.execPath, [join(SDK_DIR, "bin.mjs"), "sim-cloud", "--port", "abc"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const code = await new Promise((resolve) => child.on("exit", resolve));
  assert.equal(code, 1);
  assert.match(stderr, /--port needs a non-negative integer, got "abc"/);
});
