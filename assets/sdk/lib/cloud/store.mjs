// The simulated cloud's records: organizations, identities (anonymous tokens), projects,
// training jobs with their event history, deployments and their API keys.
//
// With a data directory the records survive a restart, so the credentials and the project
// state a dev console keeps stay valid across sessions and the job list shows earlier jobs:
// `cloud.json` holds every record but the job events, and each finished job's event history
// is written once, as `jobs/<id>.ndjson`, when the job ends.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const FORMAT = 1;
const SAVE_DELAY_MS = 100;

export class Store {
  /** `onSaveError`: told about a failed background save (the next change tries again). */
  constructor({ dataDir = null, onSaveError = () => undefined } = {}) {
    this.dataDir = dataDir;
    this.onSaveError = onSaveError;
    this.orgs = new Map();
    /** token hash → identity */
    this.identities = new Map();
    this.projects = new Map();
    /** job id → job record (public fields plus `sim`, `checkpoints`, `eventCount`) */
    this.jobs = new Map();
    this.deployments = new Map();
    this.keys = new Map();
    this.saveTimer = null;
    if (dataDir) this.load();
  }

  // ---- lookups --------------------------------------------------------------------------

  orgBySlug(slug) {
    for (const org of this.orgs.values()) if (org.slug === slug) return org;
    return null;
  }

  projectBySlug(orgId, slug) {
    for (const project of this.projects.values()) {
      if (project.orgId === orgId && project.slug === slug) return project;
    }
    return null;
  }

  projectsOf(orgId) {
    return [...this.projects.values()].filter((p) => p.orgId === orgId);
  }

  /** A project's jobs, newest first. */
  jobsOf(projectId) {
    return [...this.jobs.values()]
      .filter((job) => job.projectId === projectId)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.seq - a.seq);
  }

  /** A project's deployments, newest first. */
  deploymentsOf(projectId) {
    return [...this.deployments.values()]
      .filter((d) => d.projectId === projectId)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  deploymentBySlug(slug) {
    for (const deployment of this.deployments.values()) if (deployment.slug === slug) return deployment;
    return null;
  }

  /** A deployment's keys, oldest first. */
  keysOf(deploymentId) {
    return [...this.keys.values()]
      .filter((k) => k.deploymentId === deploymentId)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Order of creation, so jobs created within one millisecond still list newest first. */
  nextJobSeq() {
    let max = 0;
    for (const job of this.jobs.values()) max = Math.max(max, job.seq ?? 0);
    return max + 1;
  }

  // ---- persistence ----------------------------------------------------------------------

  /** Note a change; the records are written shortly after (never per training event). */
  changed() {
    if (!this.dataDir || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      try {
        this.saveNow();
      } catch (err) {
        this.onSaveError(err);
      }
    }, SAVE_DELAY_MS);
    this.saveTimer.unref();
  }

  saveNow() {
    if (!this.dataDir) return;
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
    }
    const snapshot = {
      format: FORMAT,
      orgs: [...this.orgs.values()],
      identities: [...this.identities.entries()].map(([tokenHash, identity]) => ({ tokenHash, ...identity })),
      projects: [...this.projects.values()],
      jobs: [...this.jobs.values()],
      deployments: [...this.deployments.values()],
      keys: [...this.keys.values()],
    };
    writeAtomically(join(this.dataDir, "cloud.json"), JSON.stringify(snapshot, null, 2));
  }

  /** Write a finished job's whole event history (once: it never changes again). */
  saveEvents(jobId, frames) {
    if (!this.dataDir) return;
    const dir = join(this.dataDir, "jobs");
    mkdirSync(dir, { recursive: true });
    writeAtomically(join(dir, `${jobId}.ndjson`), frames.map((f) => `${JSON.stringify(f)}\n`).join(""));
  }

  /** A persisted job's event history; empty when none was written. */
  loadEvents(jobId) {
    if (!this.dataDir) return [];
    const path = join(this.dataDir, "jobs", `${jobId}.ndjson`);
    if (!existsSync(path)) return [];
    const frames = [];
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        frames.push(JSON.parse(line));
      } catch {
        // A torn line (the process died mid-write of an older version): skip it.
      }
    }
    return frames;
  }

  load() {
    mkdirSync(this.dataDir, { recursive: true });
    const path = join(this.dataDir, "cloud.json");
    if (!existsSync(path)) return;
    let snapshot;
    try {
      snapshot = JSON.parse(readFileSync(path, "utf8"));
    } catch (err) {
      throw new Error(`cannot read the simulated cloud's records at ${path}: ${err.message}; delete the file to start afresh`);
    }
    if (snapshot?.format !== FORMAT) {
      throw new Error(`${path} has an unknown format (${JSON.stringify(snapshot?.format)}); delete it to start afresh`);
    }
    for (const org of snapshot.orgs ?? []) this.orgs.set(org.id, org);
    for (const { tokenHash, ...identity } of snapshot.identities ?? []) this.identities.set(tokenHash, identity);
    for (const project of snapshot.projects ?? []) this.projects.set(project.id, project);
    for (const job of snapshot.jobs ?? []) this.jobs.set(job.id, job);
    for (const deployment of snapshot.deployments ?? []) this.deployments.set(deployment.id, deployment);
    for (const key of snapshot.keys ?? []) this.keys.set(key.id, key);
  }
}

function writeAtomically(path, text) {
  const staging = `${path}.${process.pid}.tmp`;
  writeFileSync(staging, text, { mode: 0o600 });
  renameSync(staging, path);
}
