// Training jobs: `POST|GET /v1/jobs`, `GET /v1/jobs/:id`, `POST /v1/jobs/:id/cancel` and the
// event stream `GET /v1/jobs/:id/events/stream` (all with the project scope query).
import { HttpError, isPlainObject, readJson, sendJson } from "../http.mjs";
import { wireJob } from "../jobs.mjs";
import { seedHistory } from "../seed.mjs";
import { parseSimulation } from "../training.mjs";
import { Issues, checkString, requireObject } from "../validate.mjs";

/** How often an idle event stream sends a `ping` keep-alive. */
export const DEFAULT_PING_MS = 15_000;

export async function createJob(ctx) {
  const { req, res, store, jobs, project, options } = ctx;
  const body = requireObject(await readJson(req), "The job body");
  const issues = new Issues();
  checkString(issues, ["name"], body.name, { min: 1, max: 200 });
  if (!isPlainObject(body.config)) {
    issues.add(["config"], "expected object");
  } else {
    checkString(issues, ["config", "model"], body.config.model, { min: 1 });
    if (!isPlainObject(body.config.datasetSource)) issues.add(["config", "datasetSource"], "expected object");
  }
  issues.throwIfAny("Invalid job body: ");
  // Sim-only: the timings and failures a simulated runner asks for (its ARKOR_SIM_* knobs).
  const knobs = parseSimulation(body.simulation);
  // The latency of the create request itself (the job does not exist before it answers).
  await sleepUnlessClosed(ctx, knobs.startDelayMs ?? 300);
  // A client that hung up never learns the id: no job nobody could follow or cancel.
  if (res.destroyed) return;
  if (options.seedHistory && store.jobsOf(project.id).length === 0) {
    seedHistory(jobs, project, { name: body.name, config: body.config });
  }
  const job = jobs.create({ project, name: body.name, config: body.config, knobs });
  sendJson(res, 201, { job: wireJob(job) });
}

export function listJobs({ res, store, project }) {
  sendJson(res, 200, { jobs: store.jobsOf(project.id).map(wireJob) });
}

export function getJob(ctx) {
  sendJson(ctx.res, 200, { job: wireJob(findJob(ctx)) });
}

export async function cancelJob(ctx) {
  const { res, jobs } = ctx;
  const job = findJob(ctx);
  const { settings } = job.sim;
  await sleepUnlessClosed(ctx, settings.cancelDelayMs);
  if (settings.cancelFails) {
    throw new HttpError(503, "Simulated cancel failure (ARKOR_SIM_CANCEL_FAIL=1)");
  }
  if (!jobs.cancel(job)) {
    throw new HttpError(409, `Job ${job.id} is already ${job.status}`);
  }
  sendJson(res, 200, { job: wireJob(job) });
}

/**
 * Server-sent events: `id:`, `event:` and `data: <JSON with type, jobId, timestamp, …>` per
 * frame; the whole history first (after `Last-Event-ID` when it names a frame of this job),
 * then live frames, `ping` keep-alives while idle, and `end` once the job is over.
 */
export function streamEvents(ctx) {
  const { req, res, jobs, options } = ctx;
  const job = findJob(ctx);
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
  });
  res.flushHeaders();
  let open = true;
  let unsubscribe = () => undefined;
  const pingMs = options.pingMs ?? DEFAULT_PING_MS;
  const ping = setInterval(() => {
    const data = { type: "ping", jobId: job.id, timestamp: new Date().toISOString() };
    res.write(`event: ping\ndata: ${JSON.stringify(data)}\n\n`);
  }, pingMs);
  if (options.unrefTimers) ping.unref();
  const close = () => {
    if (!open) return;
    open = false;
    clearInterval(ping);
    unsubscribe();
  };
  res.on("close", close);
  unsubscribe = jobs.subscribe(job, req.headers["last-event-id"], {
    frame(frame) {
      if (open) res.write(`id: ${frame.id}\nevent: ${frame.event}\ndata: ${JSON.stringify(frame.data)}\n\n`);
    },
    end(data) {
      if (!open) return;
      res.end(`event: end\ndata: ${JSON.stringify(data)}\n\n`);
      close();
    },
  });
  if (!open) unsubscribe();
}

/** The job named in the path, in the request's project (404 otherwise). */
export function findJob({ store, project, params }) {
  const job = store.jobs.get(params.id);
  if (!job || job.projectId !== project.id) throw new HttpError(404, `Job ${params.id} not found`);
  return job;
}

/**
 * The job behind an adapter reference `{kind: "final" | "checkpoint", jobId, step?}`, when it
 * has that adapter by now: 404 for an unknown job or checkpoint, 409 for a final adapter of a
 * job that did not complete.
 */
export function adapterJob({ store, project }, { kind, jobId, step }) {
  const job = store.jobs.get(jobId);
  if (!job || job.projectId !== project.id) throw new HttpError(404, `Job ${jobId} not found`);
  if (kind === "final" && job.status !== "completed") {
    throw new HttpError(409, `Job ${jobId} has no final adapter: it is ${job.status}`);
  }
  if (kind === "checkpoint" && !job.checkpoints.includes(step)) {
    const recent = job.checkpoints.slice(-5).join(", ");
    const saved =
      job.checkpoints.length === 0
        ? "none saved yet"
        : `latest saved: ${job.checkpoints.length > 5 ? "…, " : ""}${recent}`;
    throw new HttpError(404, `Job ${jobId} has no checkpoint at step ${step} (${saved})`);
  }
  return job;
}

/** A delay that ends early (without error) when the client has gone. */
function sleepUnlessClosed({ res }, ms) {
  if (!ms || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      res.off("close", done);
      resolve();
    }
    res.on("close", done);
  });
}
