// Who may call what: the SDK version gate, bearer tokens, and the org / project scope every
// project route takes as `?orgSlug=&projectSlug=`.
import { HttpError } from "./http.mjs";
import { hashSecret } from "./ids.mjs";

const CLIENT_HEADER = /^arkor\/\S+$/;

/**
 * The cloud's SDK version gate: 426 without `X-Arkor-Client: arkor/<version>`. The stand-in
 * RPC client used to build the reference SDK locally identifies with
 * `X-Arkor-Client-Version: <version>` instead; it is accepted too.
 */
export function checkClientVersion(req) {
  const client = req.headers["x-arkor-client"];
  if (typeof client === "string" && CLIENT_HEADER.test(client)) return;
  const version = req.headers["x-arkor-client-version"];
  if (client === undefined && typeof version === "string" && version.trim() !== "") return;
  throw new HttpError(426, "upgrade_required", {
    message: `This cloud API needs an arkor SDK that identifies itself with X-Arkor-Client: arkor/<version> (got ${JSON.stringify(client ?? null)}).`,
  });
}

/** The identity behind `Authorization: Bearer <token>`; 401 without a known token. */
export function authenticate(store, req) {
  const header = req.headers.authorization;
  const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match) throw new HttpError(401, "Missing bearer token. Sign in with `arkor login` (or let arkor dev sign you in anonymously).");
  const identity = store.identities.get(hashSecret(match[1]));
  if (!identity) throw new HttpError(401, "Invalid or expired token. Run `arkor login` to sign in again.");
  return identity;
}

/** The org named by `?orgSlug=`, if the identity belongs to it (403 otherwise). */
export function resolveOrg(store, identity, url) {
  const orgSlug = url.searchParams.get("orgSlug");
  if (!orgSlug) throw new HttpError(400, "Missing orgSlug query parameter");
  const org = store.orgBySlug(orgSlug);
  if (!org || !identity.orgIds.includes(org.id)) {
    throw new HttpError(403, `You are not a member of the organization "${orgSlug}"`);
  }
  return org;
}

/** The org and project named by `?orgSlug=&projectSlug=` (400, 403 or 404 otherwise). */
export function resolveScope(store, identity, url) {
  const projectSlug = url.searchParams.get("projectSlug");
  if (!url.searchParams.get("orgSlug") || !projectSlug) {
    throw new HttpError(400, "Missing orgSlug or projectSlug query parameter");
  }
  const org = resolveOrg(store, identity, url);
  const project = store.projectBySlug(org.id, projectSlug);
  if (!project) throw new HttpError(404, `Project "${projectSlug}" not found in organization "${org.slug}"`);
  return { org, project };
}
