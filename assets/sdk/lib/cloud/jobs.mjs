// Training jobs of the simulated cloud: creation, the step timers, the event timeline every
// stream subscriber shares (history first, after `Last-Event-ID` when given, then live frames,
// then `end`), cancel, and the end of every job still running when the cloud stops.
import { newJobId, nowIso } from "./ids.mjs";
import { completionEvent, eventsForStep, resolveSettings, startedEvent } from "./training.mjs";

export const TERMINAL_STATUSES = new Set(["completed", "failed", "cancelled"]);
const STOPPED_ERROR = "The simulated cloud stopped while this job was running";

/** The job as the API returns it (internal fields left out). */
export function wireJob(job) {
  return {
    id: job.id,
    orgId: job.orgId,
    projectId: job.projectId,
    name: job.name,
    status: job.status,
    config: job.config,
    error: job.error,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    completedAt: job.completedAt,
  };
}

export class JobService {
  /**
   * `unrefTimers`: step timers do not keep the process alive (a cloud hosted inside a runner
   * must never outlive the runner's own work).
   */
  constructor(store, { unrefTimers = false } = {}) {
    this.store = store;
    this.unrefTimers = unrefTimers;
    /** job id → { frames, listeners, ended } (loaded lazily for jobs of an earlier session) */
    this.timelines = new Map();
    /** job id → pending step timer */
    this.timers = new Map();
    // Jobs a killed predecessor left running cannot continue: say so in their records.
    let changed = false;
    for (const job of store.jobs.values()) {
      if (!TERMINAL_STATUSES.has(job.status)) {
        Object.assign(job, { status: "failed", error: STOPPED_ERROR, completedAt: nowIso() });
        changed = true;
      }
    }
    if (changed) store.changed();
  }

  /** A new queued job; it starts training on its own timers. */
  create({ project, name, config, knobs }) {
    const job = {
      id: newJobId(),
      seq: this.store.nextJobSeq(),
      orgId: project.orgId,
      projectId: project.id,
      name,
      status: "queued",
      config,
      error: null,
      createdAt: nowIso(),
      startedAt: null,
      completedAt: null,
      checkpoints: [],
      sim: { settings: resolveSettings(config, knobs) },
    };
    this.store.jobs.set(job.id, job);
    this.timelines.set(job.id, { frames: [], listeners: new Set(), ended: false });
    this.store.changed();
    this.run(job);
    return job;
  }

  /** A job that already ran to its end (seeded history): record and frames at once. */
  recordFinished(job, frames) {
    this.store.jobs.set(job.id, job);
    this.timelines.set(job.id, { frames, listeners: new Set(), ended: true });
    this.store.saveEvents(job.id, frames);
    this.store.changed();
  }

  timeline(job) {
    let timeline = this.timelines.get(job.id);
    if (!timeline) {
      timeline = { frames: this.store.loadEvents(job.id), listeners: new Set(), ended: true };
      this.timelines.set(job.id, timeline);
    }
    return timeline;
  }

  /**
   * Replays the job's history (after `lastEventId` when it names one of its frames, else
   * from the start) into `sink.frame`, then live frames, then `sink.end` once the job is
   * over. Returns the unsubscribe function.
   */
  subscribe(job, lastEventId, sink) {
    const timeline = this.timeline(job);
    for (const frame of timeline.frames.slice(resumeIndex(job, timeline, lastEventId))) sink.frame(frame);
    if (timeline.ended) {
      sink.end(endPayload(job));
      return () => undefined;
    }
    timeline.listeners.add(sink);
    return () => timeline.listeners.delete(sink);
  }

  /** Stop a running job now; a finished job stays as it is (the route answers 409). */
  cancel(job) {
    if (TERMINAL_STATUSES.has(job.status)) return false;
    this.finish(job, { status: "cancelled" });
    return true;
  }

  /** Every running job ends as failed: the simulated cloud is going away. */
  shutdown() {
    for (const job of this.store.jobs.values()) {
      if (TERMINAL_STATUSES.has(job.status)) continue;
      const step = lastStep(this.timeline(job));
      this.emit(job, { type: "training.failed", error: STOPPED_ERROR, ...(step !== null && { step }) });
      this.finish(job, { status: "failed", error: STOPPED_ERROR });
    }
    this.store.saveNow();
  }

  // ---- the training loop ----------------------------------------------------------------

  run(job) {
    const { settings } = job.sim;
    this.schedule(job, Math.min(settings.stepMs, 100), () => {
      Object.assign(job, { status: "running", startedAt: nowIso() });
      this.store.changed();
      this.emit(job, startedEvent(job));
      this.step(job, 1);
    });
  }

  step(job, step) {
    const { settings } = job.sim;
    this.schedule(job, settings.stepMs, () => {
      for (const event of eventsForStep(step, job)) {
        this.emit(job, event);
        if (event.type === "training.failed") {
          this.finish(job, { status: "failed", error: event.error });
          return;
        }
        if (event.type === "checkpoint.saved") {
          job.checkpoints.push(step);
          this.store.changed();
        }
      }
      if (step >= settings.maxSteps) {
        this.emit(job, completionEvent(job));
        this.finish(job, { status: "completed" });
        return;
      }
      this.step(job, step + 1);
    });
  }

  schedule(job, ms, fn) {
    const timer = setTimeout(() => {
      this.timers.delete(job.id);
      fn();
    }, ms);
    if (this.unrefTimers) timer.unref();
    this.timers.set(job.id, timer);
  }

  emit(job, payload) {
    const timeline = this.timeline(job);
    const data = { ...payload, jobId: job.id, timestamp: nowIso() };
    const frame = { id: frameId(job, timeline.frames.length + 1), event: payload.type, data };
    timeline.frames.push(frame);
    for (const sink of timeline.listeners) sink.frame(frame);
  }

  finish(job, { status, error = null }) {
    clearTimeout(this.timers.get(job.id));
    this.timers.delete(job.id);
    Object.assign(job, { status, error, completedAt: nowIso() });
    const timeline = this.timeline(job);
    timeline.ended = true;
    this.store.saveEvents(job.id, timeline.frames);
    this.store.changed();
    const end = endPayload(job);
    for (const sink of timeline.listeners) sink.end(end);
    timeline.listeners.clear();
  }
}

/** `<creation second>-evt-<n>`, n counting the job's frames from 1. */
function frameId(job, n) {
  return `${Math.floor(Date.parse(job.createdAt) / 1000)}-evt-${n}`;
}

function resumeIndex(job, timeline, lastEventId) {
  if (!lastEventId) return 0;
  const match = /^(\d+)-evt-(\d+)$/.exec(lastEventId);
  if (!match || frameId(job, Number(match[2])) !== lastEventId) return 0;
  const n = Number(match[2]);
  // An id this job never sent (from another job, or ahead of its history): start over.
  return n <= timeline.frames.length ? n : 0;
}

/** The last frame of a stream: the job is over (its time is when it ended). */
function endPayload(job) {
  return { type: "end", jobId: job.id, timestamp: job.completedAt ?? nowIso(), status: job.status };
}

function lastStep(timeline) {
  for (let i = timeline.frames.length - 1; i >= 0; i -= 1) {
    const step = timeline.frames[i].data.step;
    if (Number.isInteger(step)) return step;
  }
  return null;
}
