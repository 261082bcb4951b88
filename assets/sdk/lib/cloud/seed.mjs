// Earlier, finished jobs for a demo: before a project's first job, two runs of the same
// trainer that ended in the past (one completed with a lower learning rate, one that diverged
// with a higher one), each with its whole event history, so a job list and a job's loss curve
// have something to show from the first minute.
import { newJobId } from "./ids.mjs";
import { completionEvent, eventsForStep, resolveSettings, startedEvent } from "./training.mjs";

const HOUR_MS = 60 * 60 * 1000;
const SEEDED_MAX_STEPS = 120;
const SEEDED_STEP_MS = 9000;

/** Record the earlier jobs of `project`, modelled on the job about to be created. */
export function seedHistory(jobs, project, { name, config }) {
  const learningRate = typeof config.learningRate === "number" ? config.learningRate : 2e-4;
  const now = Date.now();
  const maxSteps = Math.min(SEEDED_MAX_STEPS, Number.isInteger(config.maxSteps) ? config.maxSteps : SEEDED_MAX_STEPS);
  const earlier = [
    { hoursAgo: 26, config: { ...config, learningRate: learningRate / 2 }, divergeAt: null },
    { hoursAgo: 3, config: { ...config, learningRate: learningRate * 5 }, divergeAt: Math.max(1, Math.round(maxSteps * 0.4)) },
  ];
  earlier.forEach((spec, index) => {
    const created = now - spec.hoursAgo * HOUR_MS;
    const job = {
      id: newJobId(),
      seq: -earlier.length + index,
      orgId: project.orgId,
      projectId: project.id,
      name,
      status: "queued",
      config: spec.config,
      error: null,
      createdAt: new Date(created).toISOString(),
      startedAt: null,
      completedAt: null,
      checkpoints: [],
      sim: { settings: resolveSettings(spec.config, { maxSteps }) },
    };
    const frames = [];
    let clock = created + 40_000;
    const push = (payload) => {
      const data = { ...payload, jobId: job.id, timestamp: new Date(clock).toISOString() };
      frames.push({ id: `${Math.floor(created / 1000)}-evt-${frames.length + 1}`, event: payload.type, data });
    };
    job.startedAt = new Date(clock).toISOString();
    push(startedEvent(job));
    for (let step = 1; step <= maxSteps; step += 1) {
      clock += SEEDED_STEP_MS;
      if (step === spec.divergeAt) {
        const error = `Training diverged at step ${step}: the loss became NaN (learningRate ${spec.config.learningRate} is too high)`;
        push({ type: "training.failed", error, step });
        Object.assign(job, { status: "failed", error });
        break;
      }
      for (const event of eventsForStep(step, job)) {
        push(event);
        if (event.type === "checkpoint.saved") job.checkpoints.push(step);
      }
    }
    if (job.status === "queued") {
      push(completionEvent(job));
      job.status = "completed";
    }
    job.completedAt = new Date(clock).toISOString();
    jobs.recordFinished(job, frames);
  });
}
