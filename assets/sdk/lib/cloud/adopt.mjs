// A simulated cloud started for one project knows that project's account already: the
// anonymous identity in `<home>/.arkor/credentials.json` (arkor tui writes it before the cloud
// starts, so no client has to wait for a sign-in), and the project `.arkor/state.json` names
// for that identity's org. Records lost since (a deleted data folder) are recreated, so the
// project's files never point at an account the cloud forgot.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { hashSecret, newUuid, nowIso } from "./ids.mjs";

function readJson(path) {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
}

/** Adopt the identity under `home` and, when it is that identity's, the project at `projectDir`. */
export function adoptAccount(store, { home, projectDir }) {
  const credentials = readJson(join(home, ".arkor", "credentials.json"));
  if (credentials?.mode !== "anon" || typeof credentials.token !== "string" || typeof credentials.orgSlug !== "string") {
    return;
  }
  let org = store.orgBySlug(credentials.orgSlug);
  if (!org) {
    org = { id: newUuid(), slug: credentials.orgSlug, name: "Personal (anonymous)", createdAt: nowIso() };
    store.orgs.set(org.id, org);
  }
  const tokenHash = hashSecret(credentials.token);
  if (!store.identities.has(tokenHash)) {
    store.identities.set(tokenHash, {
      id: typeof credentials.anonymousId === "string" ? credentials.anonymousId : "anonymous",
      kind: "cli",
      email: null,
      orgIds: [org.id],
      createdAt: nowIso(),
    });
  }
  const state = projectDir ? readJson(join(projectDir, ".arkor", "state.json")) : null;
  const stateOk = ["orgSlug", "projectSlug", "projectId"].every((k) => typeof state?.[k] === "string");
  if (stateOk && state.orgSlug === org.slug && !store.projectBySlug(org.id, state.projectSlug)) {
    const name = projectDir.split(/[/\\]/).findLast(Boolean) ?? state.projectSlug;
    store.projects.set(state.projectId, { id: state.projectId, slug: state.projectSlug, name, orgId: org.id, createdAt: nowIso() });
  }
  store.changed();
}
