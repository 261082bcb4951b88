// The cloud API client of the simulated SDK: the same requests as the real SDK's
// CloudApiClient (paths, scope query, `Authorization: Bearer`, `X-Arkor-Client:
// arkor/<version>`, JSON bodies) and the same CloudApiError messages, against whatever base
// URL it is given (the simulated cloud).
import { readFileSync } from "node:fs";

import { CloudApiError } from "./errors.mjs";
import { request } from "./httpClient.mjs";

export const SDK_VERSION = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
const CLIENT_HEADER = `arkor/${SDK_VERSION}`;

/** A non-2xx answer as the real SDK reports it: the body's `error`, else its text. */
export async function cloudApiError(res) {
  const text = await res.text().catch(() => "");
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  if (res.status === 426) {
    const detail = typeof parsed?.message === "string" && parsed.message ? `${parsed.message} ` : "";
    return new CloudApiError(426, `${detail}Arkor SDK is no longer supported by the cloud API. Run \`npm install arkor@latest\`.`);
  }
  const field = typeof parsed?.error === "string" ? parsed.error : typeof parsed?.message === "string" ? parsed.message : "";
  return new CloudApiError(res.status, field || text || `cloud-api ${res.status}`);
}

function scopeQuery(scope) {
  return `orgSlug=${encodeURIComponent(scope.orgSlug)}&projectSlug=${encodeURIComponent(scope.projectSlug)}`;
}

/** `POST {base}/v1/auth/anonymous`: a fresh anonymous identity (not persisted here). */
export async function requestAnonymousToken(baseUrl) {
  const res = await request(`${baseUrl}/v1/auth/anonymous`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Arkor-Client": CLIENT_HEADER },
    body: JSON.stringify({ kind: "cli" }),
  });
  if (!res.ok) {
    const body = (await res.text().catch(() => "")).slice(0, 500);
    throw new Error(`Failed to acquire anonymous token (${res.status}): ${body}`);
  }
  const data = await res.json();
  if (typeof data?.token !== "string" || typeof data?.personalOrg?.slug !== "string") {
    throw new Error("Unexpected anonymous sign-in reply from the cloud API");
  }
  return { token: data.token, anonymousId: data.anonymousId, kind: data.kind, orgSlug: data.personalOrg.slug };
}

export class CloudApiClient {
  constructor({ baseUrl, token }) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.token = token;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, "X-Arkor-Client": CLIENT_HEADER, ...extra };
  }

  async request(method, path, { query = "", json, headers, signal } = {}) {
    const res = await request(`${this.baseUrl}${path}${query ? `?${query}` : ""}`, {
      method,
      headers: this.headers({ ...(json !== undefined && { "Content-Type": "application/json" }), ...headers }),
      body: json === undefined ? undefined : JSON.stringify(json),
      signal,
    });
    if (!res.ok) throw await cloudApiError(res);
    return res;
  }

  async listProjects(orgSlug) {
    const res = await this.request("GET", "/v1/projects", { query: `orgSlug=${encodeURIComponent(orgSlug)}` });
    return res.json();
  }

  async createProject({ orgSlug, name, slug }) {
    const res = await this.request("POST", "/v1/projects", {
      query: `orgSlug=${encodeURIComponent(orgSlug)}`,
      json: { name, slug },
    });
    return res.json();
  }

  /** `simulation`: the sim-only knobs (ARKOR_SIM_*), sent beside the real body fields. */
  async createJob({ orgSlug, projectSlug, name, config, simulation }) {
    const res = await this.request("POST", "/v1/jobs", {
      query: scopeQuery({ orgSlug, projectSlug }),
      json: { name, config, simulation },
    });
    return res.json();
  }

  async getJob(jobId, scope) {
    const res = await this.request("GET", `/v1/jobs/${encodeURIComponent(jobId)}`, { query: scopeQuery(scope) });
    return res.json();
  }

  async cancelJob(jobId, scope) {
    const res = await this.request("POST", `/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { query: scopeQuery(scope) });
    res.cancel();
  }

  /** The event stream's response (read it with iterateEvents), resumed after `lastEventId` when given. */
  openEventStream(jobId, scope, { lastEventId, signal } = {}) {
    return this.request("GET", `/v1/jobs/${encodeURIComponent(jobId)}/events/stream`, {
      query: scopeQuery(scope),
      headers: { Accept: "text/event-stream", ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) },
      signal,
    });
  }

  /** `POST /v1/inference/chat`: a WHATWG Response (SSE, or JSON with `stream: false`). */
  async chat({ scope, body, signal }) {
    const res = await this.request("POST", "/v1/inference/chat", { query: scopeQuery(scope), json: body, signal });
    return res.toWebResponse();
  }
}
