// Who the simulated runner is and which project it trains in, resolved the way the real SDK
// does it: credentials from `<home>/.arkor/credentials.json` (an anonymous sign-in when there
// are none), project scope from `.arkor/state.json` (a cloud project created and the file
// written when there is none).
//
// The home is `ARKOR_SIM_HOME`, never the user's own: arkor tui points it at a private folder
// of the project, so simulated credentials never land in `~/.arkor`. Without it (a runner
// using its own in-process cloud, or one pointed at a simulated cloud by hand) the identity
// and the project live only as long as the process: nothing is read or written.
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { CloudApiClient, requestAnonymousToken } from "./cloudClient.mjs";
import { CloudApiError } from "./errors.mjs";

const STALE_STATE_MESSAGE =
  ".arkor/state.json names an organization your current anonymous session does not belong to. Delete .arkor/state.json to let a fresh anonymous project be created, or sign in (`arkor login`) as the account that owns it.";
const NO_STATE_FOR_ACCOUNT_MESSAGE =
  "There is no .arkor/state.json, and signed-in accounts do not get a project automatically. Write it yourself: { orgSlug, projectSlug, projectId } of the project to train in.";

export function credentialsPath(home) {
  return join(home, ".arkor", "credentials.json");
}

/** The stored credentials; null when missing or not JSON (other read errors propagate). */
export function readCredentials(home) {
  const path = credentialsPath(home);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    if (err instanceof SyntaxError || err.code === "ENOENT") return null;
    throw err;
  }
}

/** Atomic, 0600, pretty JSON without a trailing newline (the real SDK's format). */
export function writeCredentials(home, credentials) {
  const path = credentialsPath(home);
  mkdirSync(join(home, ".arkor"), { recursive: true });
  const staging = `${path}.${process.pid}.${randomUUID()}.tmp`;
  try {
    writeFileSync(staging, JSON.stringify(credentials, null, 2), { mode: 0o600 });
    chmodSync(staging, 0o600);
    renameSync(staging, path);
  } catch (err) {
    rmSync(staging, { force: true });
    throw err;
  }
}

function tokenOf(credentials) {
  return credentials.mode === "anon" ? credentials.token : credentials.accessToken;
}

/** Credentials on file under `home`, or a fresh anonymous identity (written there when a home is given). */
async function ensureCredentials(home, baseUrl) {
  const existing = home ? readCredentials(home) : null;
  if (existing) return existing;
  const anon = await requestAnonymousToken(baseUrl);
  const credentials = {
    mode: "anon",
    token: anon.token,
    anonymousId: anon.anonymousId,
    arkorCloudApiUrl: baseUrl,
    orgSlug: anon.orgSlug,
  };
  if (home) writeCredentials(home, credentials);
  return credentials;
}

export function readState(cwd) {
  const path = join(cwd, ".arkor", "state.json");
  if (!existsSync(path)) return null;
  try {
    const data = JSON.parse(readFileSync(path, "utf8"));
    const ok = ["orgSlug", "projectSlug", "projectId"].every((k) => typeof data?.[k] === "string");
    return ok ? data : null;
  } catch {
    return null;
  }
}

function writeState(cwd, state) {
  mkdirSync(join(cwd, ".arkor"), { recursive: true });
  writeFileSync(join(cwd, ".arkor", "state.json"), `${JSON.stringify(state, null, 2)}\n`);
}

/** The project slug the real SDK derives from a folder name. */
export function projectSlugFor(cwd) {
  const name = cwd.split(/[/\\]/).findLast(Boolean) ?? "project";
  const dashed = name.toLowerCase().replaceAll(/[^a-z0-9-]/g, "-");
  let start = 0;
  while (start < dashed.length && dashed[start] === "-") start += 1;
  let end = dashed.length;
  while (end > start && dashed[end - 1] === "-") end -= 1;
  return { name, slug: dashed.slice(start, end).slice(0, 40) || "project" };
}

/** Create the project (or, when the slug is taken in this org, reuse it). */
async function bootstrapProject(client, orgSlug, cwd) {
  const { name, slug } = projectSlugFor(cwd);
  try {
    return (await client.createProject({ orgSlug, name, slug })).project;
  } catch (err) {
    if (!(err instanceof CloudApiError) || err.status !== 409) throw err;
    const { projects } = await client.listProjects(orgSlug);
    const found = projects.find((p) => p.slug === slug);
    if (!found) throw err;
    return found;
  }
}

/**
 * A signed-in client and the project scope to train in. `persistent`: read and write the
 * credentials under `home` and the project's `.arkor/state.json`.
 */
export async function openSession({ baseUrl, home, cwd, persistent }) {
  const credentials = await ensureCredentials(persistent ? home : null, baseUrl);
  const client = new CloudApiClient({ baseUrl, token: tokenOf(credentials) });
  const existing = persistent ? readState(cwd) : null;
  if (existing) {
    if (credentials.mode === "anon" && existing.orgSlug !== credentials.orgSlug) {
      throw new Error(STALE_STATE_MESSAGE);
    }
    return { client, scope: { orgSlug: existing.orgSlug, projectSlug: existing.projectSlug } };
  }
  if (credentials.mode !== "anon") throw new Error(NO_STATE_FOR_ACCOUNT_MESSAGE);
  const project = await bootstrapProject(client, credentials.orgSlug, cwd);
  if (persistent) writeState(cwd, { orgSlug: credentials.orgSlug, projectSlug: project.slug, projectId: project.id });
  return { client, scope: { orgSlug: credentials.orgSlug, projectSlug: project.slug } };
}
