// Deployments (`/v1/endpoints…`, all with the project scope query): list, create, read,
// update (enable / disable, retarget, auth mode, retention), delete, and their API keys
// (create, whose plaintext is returned once; list; revoke, which disables the key).
import { HttpError, isPlainObject, readJson, sendJson, sendNoContent } from "../http.mjs";
import { hashSecret, newUuid, nowIso, randomHex } from "../ids.mjs";
import { adapterJob } from "./jobs.mjs";
import { Issues, checkEnum, checkInteger, checkString, describe, requireObject } from "../validate.mjs";

const SLUG = /^[a-z0-9][a-z0-9-]*[a-z0-9]$/;
const SLUG_MESSAGE =
  'slug must be 2-50 chars, lowercase letters / digits / hyphens, starting and ending with a letter or digit (e.g. "my-model")';
const RESERVED_SLUGS = new Set(["www", "api", "app", "admin", "auth", "studio", "docs", "status", "mail", "cdn"]);
const AUTH_MODES = ["none", "fixed_api_key"];
const RETENTION_MODES = ["unlimited", "disabled", "days"];
const DEFAULT_RETENTION = { runRetentionMode: "days", runRetentionDays: 7 };
const UPDATABLE = new Set(["target", "authMode", "enabled", "runRetentionMode", "runRetentionDays"]);

export function listDeployments({ res, store, project }) {
  sendJson(res, 200, { deployments: store.deploymentsOf(project.id) });
}

export async function createDeployment(ctx) {
  const { req, res, store, org, project } = ctx;
  const body = requireObject(await readJson(req), "The deployment body");
  const issues = new Issues();
  if (checkString(issues, ["slug"], body.slug, { min: 2, max: 50, pattern: SLUG, patternMessage: SLUG_MESSAGE })) {
    if (RESERVED_SLUGS.has(body.slug)) issues.add(["slug"], `"${body.slug}" is reserved`);
  }
  checkTarget(issues, body.target);
  checkEnum(issues, ["authMode"], body.authMode, AUTH_MODES);
  checkRetention(issues, body);
  issues.throwIfAny("Invalid deployment create body: ");
  checkTargetExists(ctx, body.target);
  if (store.deploymentBySlug(body.slug)) throw new HttpError(409, "Deployment slug is already taken");
  const now = nowIso();
  const retention =
    body.runRetentionMode === undefined
      ? DEFAULT_RETENTION
      : { runRetentionMode: body.runRetentionMode, ...(body.runRetentionMode === "days" && { runRetentionDays: body.runRetentionDays }) };
  const deployment = {
    id: newUuid(),
    slug: body.slug,
    orgId: org.id,
    projectId: project.id,
    target: normaliseTarget(body.target),
    authMode: body.authMode,
    urlFormat: "openai_compat",
    enabled: true,
    customDomain: null,
    ...retention,
    createdAt: now,
    updatedAt: now,
  };
  store.deployments.set(deployment.id, deployment);
  store.changed();
  sendJson(res, 201, { deployment });
}

export function getDeployment(ctx) {
  sendJson(ctx.res, 200, { deployment: findDeployment(ctx) });
}

export async function updateDeployment(ctx) {
  const { req, res, store } = ctx;
  const deployment = findDeployment(ctx);
  const body = requireObject(await readJson(req), "The deployment update body");
  const issues = new Issues();
  for (const key of Object.keys(body)) if (!UPDATABLE.has(key)) issues.add([key], "unknown field");
  if (body.target !== undefined) checkTarget(issues, body.target);
  if (body.authMode !== undefined) checkEnum(issues, ["authMode"], body.authMode, AUTH_MODES);
  if (body.enabled !== undefined && typeof body.enabled !== "boolean") {
    issues.add(["enabled"], `expected boolean, received ${describe(body.enabled)}`);
  }
  const merged = {
    runRetentionMode: body.runRetentionMode ?? deployment.runRetentionMode,
    runRetentionDays:
      body.runRetentionDays ??
      (body.runRetentionMode === undefined || body.runRetentionMode === "days" ? deployment.runRetentionDays : undefined),
  };
  checkRetention(issues, merged);
  issues.throwIfAny("Invalid deployment update body: ");
  if (body.target !== undefined) checkTargetExists(ctx, body.target);
  if (body.target !== undefined) deployment.target = normaliseTarget(body.target);
  if (body.authMode !== undefined) deployment.authMode = body.authMode;
  if (body.enabled !== undefined) deployment.enabled = body.enabled;
  deployment.runRetentionMode = merged.runRetentionMode;
  if (merged.runRetentionMode === "days") deployment.runRetentionDays = merged.runRetentionDays;
  else delete deployment.runRetentionDays;
  deployment.updatedAt = nowIso();
  store.changed();
  sendJson(res, 200, { deployment });
}

export function deleteDeployment(ctx) {
  const { res, store } = ctx;
  const deployment = findDeployment(ctx);
  store.deployments.delete(deployment.id);
  for (const key of store.keysOf(deployment.id)) store.keys.delete(key.id);
  store.changed();
  sendNoContent(res);
}

export function listKeys(ctx) {
  const deployment = findDeployment(ctx);
  sendJson(ctx.res, 200, { keys: ctx.store.keysOf(deployment.id).map(wireKey) });
}

export async function createKey(ctx) {
  const { req, res, store } = ctx;
  const deployment = findDeployment(ctx);
  const body = requireObject(await readJson(req), "The key body");
  const label = typeof body.label === "string" ? body.label.trim() : body.label;
  const issues = new Issues();
  checkString(issues, ["label"], label, { min: 1, max: 80 });
  issues.throwIfAny("Invalid key body (`label` must be a string of 1-80 characters after trimming): ");
  const plaintext = `ark_sim_${randomHex(24)}`;
  const key = {
    id: newUuid(),
    deploymentId: deployment.id,
    label,
    prefix: plaintext.slice(0, 16),
    secretHash: hashSecret(plaintext),
    enabled: true,
    createdAt: nowIso(),
    lastUsedAt: null,
  };
  store.keys.set(key.id, key);
  store.changed();
  sendJson(res, 201, { key: { id: key.id, label, plaintext, prefix: key.prefix, createdAt: key.createdAt } });
}

/** Revoking keeps the key listed, disabled (the real API's `enabled: false`). */
export function revokeKey(ctx) {
  const { res, store, params } = ctx;
  const deployment = findDeployment(ctx);
  const key = store.keys.get(params.keyId);
  if (!key || key.deploymentId !== deployment.id) throw new HttpError(404, `Key ${params.keyId} not found`);
  key.enabled = false;
  store.changed();
  sendNoContent(res);
}

function findDeployment({ store, project, params }) {
  const deployment = store.deployments.get(params.id);
  if (!deployment || deployment.projectId !== project.id) {
    throw new HttpError(404, `Deployment ${params.id} not found`);
  }
  return deployment;
}

function wireKey(key) {
  return {
    id: key.id,
    label: key.label,
    prefix: key.prefix,
    enabled: key.enabled,
    createdAt: key.createdAt,
    lastUsedAt: key.lastUsedAt,
  };
}

function checkTarget(issues, target) {
  if (!isPlainObject(target)) {
    issues.add(["target"], `expected object, received ${describe(target)}`);
    return;
  }
  if (!checkEnum(issues, ["target", "kind"], target.kind, ["adapter", "base_model"])) return;
  if (target.kind === "base_model") {
    checkString(issues, ["target", "baseModel"], target.baseModel, { min: 1 });
    return;
  }
  const adapter = target.adapter;
  if (!isPlainObject(adapter)) {
    issues.add(["target", "adapter"], `expected object, received ${describe(adapter)}`);
    return;
  }
  checkEnum(issues, ["target", "adapter", "kind"], adapter.kind, ["final", "checkpoint"]);
  checkString(issues, ["target", "adapter", "jobId"], adapter.jobId, { min: 1 });
  if (adapter.kind === "checkpoint") checkInteger(issues, ["target", "adapter", "step"], adapter.step, { min: 1 });
}

function checkRetention(issues, { runRetentionMode, runRetentionDays }) {
  if (runRetentionMode !== undefined) checkEnum(issues, ["runRetentionMode"], runRetentionMode, RETENTION_MODES);
  if (runRetentionDays !== undefined) checkInteger(issues, ["runRetentionDays"], runRetentionDays, { min: 1 });
  if (runRetentionDays !== undefined && runRetentionMode !== "days") {
    issues.add(["runRetentionDays"], 'runRetentionDays is only valid when runRetentionMode is "days".');
  }
  if (runRetentionMode === "days" && runRetentionDays === undefined) {
    issues.add(["runRetentionDays"], 'runRetentionMode "days" requires a positive integer runRetentionDays.');
  }
}

/** An adapter target must name a job of this project that has that adapter. */
function checkTargetExists(ctx, target) {
  if (target.kind === "adapter") adapterJob(ctx, target.adapter);
}

function normaliseTarget(target) {
  if (target.kind === "base_model") return { kind: "base_model", baseModel: target.baseModel };
  const { kind, jobId, step } = target.adapter;
  return { kind: "adapter", adapter: kind === "final" ? { kind, jobId } : { kind, jobId, step } };
}
