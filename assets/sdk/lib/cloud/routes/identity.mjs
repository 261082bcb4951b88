// Sign-in and projects: `GET /v1/auth/cli/config`, `POST /v1/auth/anonymous`, `GET /v1/me`,
// `GET|POST /v1/projects?orgSlug=`.
import { HttpError, readJson, sendJson } from "../http.mjs";
import { hashSecret, newUuid, nowIso, randomHex } from "../ids.mjs";
import { Issues, checkString, requireObject } from "../validate.mjs";

// What the SDK derives from a folder name: it may end with a hyphen when cut at 40 characters.
const PROJECT_SLUG = /^[a-z0-9][a-z0-9-]*$/;

/** The simulated cloud offers no OAuth: every value is empty, so clients sign in anonymously. */
export function cliConfig({ res }) {
  sendJson(res, 200, { auth0Domain: "", clientId: "", audience: "", callbackPorts: [] });
}

/** A fresh anonymous identity with its own personal organization. */
export async function anonymous({ req, res, store }) {
  const body = requireObject(await readJson(req, { allowEmpty: true }), "The anonymous sign-in body");
  const kind = body.kind ?? "cli";
  if (kind !== "cli" && kind !== "web") {
    throw new HttpError(400, `Invalid anonymous sign-in body: kind: expected "cli" | "web"`);
  }
  const token = `sim_anon_${randomHex(24)}`;
  const anonymousId = `anon_${randomHex(8)}`;
  const org = { id: newUuid(), slug: `anon-${randomHex(6)}`, name: "Personal (anonymous)", createdAt: nowIso() };
  store.orgs.set(org.id, org);
  store.identities.set(hashSecret(token), { id: anonymousId, kind, email: null, orgIds: [org.id], createdAt: nowIso() });
  store.changed();
  sendJson(res, 200, { token, anonymousId, kind, personalOrg: { slug: org.slug, id: org.id, name: org.name } });
}

export function me({ res, store, identity }) {
  const orgs = identity.orgIds
    .map((id) => store.orgs.get(id))
    .filter(Boolean)
    .map((org) => ({ id: org.id, slug: org.slug, name: org.name }));
  sendJson(res, 200, { user: { id: identity.id, email: identity.email, anonymous: true }, orgs });
}

export function listProjects({ res, store, org }) {
  sendJson(res, 200, { org: { id: org.id, slug: org.slug, name: org.name }, projects: store.projectsOf(org.id) });
}

export async function createProject({ req, res, store, org }) {
  const body = requireObject(await readJson(req), "The project body");
  const issues = new Issues();
  checkString(issues, ["name"], body.name, { min: 1, max: 100 });
  checkString(issues, ["slug"], body.slug, {
    min: 1,
    max: 40,
    pattern: PROJECT_SLUG,
    patternMessage: "lowercase letters, digits and hyphens, starting with a letter or digit",
  });
  issues.throwIfAny("Invalid project body: ");
  if (store.projectBySlug(org.id, body.slug)) {
    throw new HttpError(409, `A project with slug "${body.slug}" already exists in "${org.slug}"`);
  }
  const project = { id: newUuid(), slug: body.slug, name: body.name, orgId: org.id, createdAt: nowIso() };
  store.projects.set(project.id, project);
  store.changed();
  sendJson(res, 201, { project });
}
