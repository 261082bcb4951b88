// The simulated Arkor cloud: an HTTP server on loopback that speaks the real cloud API's wire
// format (routes, bodies, status codes, server-sent events), so the SDK's runner, the Studio
// and arkor tui reach it through the same client code as the real cloud.
import { createServer } from "node:http";

import { authenticate, checkClientVersion, resolveOrg, resolveScope } from "./access.mjs";
import { HttpError, sendError } from "./http.mjs";
import { JobService } from "./jobs.mjs";
import { Store } from "./store.mjs";
import * as endpoints from "./routes/endpoints.mjs";
import * as identity from "./routes/identity.mjs";
import * as inference from "./routes/inference.mjs";
import * as jobs from "./routes/jobs.mjs";

/** `access`: none (no token), `auth` (a token), `org` (+ ?orgSlug), `scope` (+ &projectSlug). */
const ROUTES = [
  ["GET", "/v1/auth/cli/config", "none", identity.cliConfig],
  ["POST", "/v1/auth/anonymous", "none", identity.anonymous],
  ["GET", "/v1/me", "auth", identity.me],
  ["GET", "/v1/projects", "org", identity.listProjects],
  ["POST", "/v1/projects", "org", identity.createProject],
  ["GET", "/v1/jobs", "scope", jobs.listJobs],
  ["POST", "/v1/jobs", "scope", jobs.createJob],
  ["GET", "/v1/jobs/:id", "scope", jobs.getJob],
  ["POST", "/v1/jobs/:id/cancel", "scope", jobs.cancelJob],
  ["GET", "/v1/jobs/:id/events/stream", "scope", jobs.streamEvents],
  ["POST", "/v1/inference/chat", "scope", inference.chat],
  ["GET", "/v1/endpoints", "scope", endpoints.listDeployments],
  ["POST", "/v1/endpoints", "scope", endpoints.createDeployment],
  ["GET", "/v1/endpoints/:id", "scope", endpoints.getDeployment],
  ["PATCH", "/v1/endpoints/:id", "scope", endpoints.updateDeployment],
  ["DELETE", "/v1/endpoints/:id", "scope", endpoints.deleteDeployment],
  ["GET", "/v1/endpoints/:id/keys", "scope", endpoints.listKeys],
  ["POST", "/v1/endpoints/:id/keys", "scope", endpoints.createKey],
  ["DELETE", "/v1/endpoints/:id/keys/:keyId", "scope", endpoints.revokeKey],
].map(([method, path, access, handler]) => ({ method, path, access, handler, pattern: compile(path) }));

function compile(path) {
  const names = [];
  const source = path.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  });
  return { regex: new RegExp(`^${source}$`), names };
}

function match(pathname) {
  const found = [];
  for (const route of ROUTES) {
    const m = route.pattern.regex.exec(pathname);
    if (!m) continue;
    const params = {};
    route.pattern.names.forEach((name, i) => {
      try {
        params[name] = decodeURIComponent(m[i + 1]);
      } catch {
        throw new HttpError(400, `Malformed path parameter ${name}`);
      }
    });
    found.push({ route, params });
  }
  return found;
}

/**
 * A simulated cloud. Options:
 * - `dataDir`: keep the records there across restarts (default: in memory only);
 * - `seedHistory`: give each project two finished earlier jobs before its first one;
 * - `tokenMs`, `pingMs`: chat token and stream keep-alive intervals;
 * - `unrefTimers`: nothing of this cloud keeps the process alive (hosted inside a runner);
 * - `log`: called with one line per request.
 */
export function createSimCloud(options = {}) {
  const store = new Store({
    dataDir: options.dataDir ?? null,
    onSaveError: (err) => process.stderr.write(`arkor sim-cloud: cannot save its records: ${err.message}\n`),
  });
  const jobService = new JobService(store, { unrefTimers: options.unrefTimers === true });
  const server = createServer((req, res) => {
    const started = Date.now();
    res.on("finish", () => options.log?.(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`));
    handle(req, res).catch((err) => {
      const error = err instanceof HttpError ? err : new HttpError(500, `Simulated cloud error: ${err?.message ?? err}`);
      if (!(err instanceof HttpError)) options.log?.(`error in ${req.method} ${req.url}: ${err?.stack ?? err}`);
      if (res.headersSent) {
        res.destroy();
      } else {
        sendError(res, error);
      }
    });
  });

  async function handle(req, res) {
    const url = new URL(req.url ?? "/", "http://sim.invalid");
    const candidates = match(url.pathname);
    if (candidates.length === 0) throw new HttpError(404, `Not found: ${req.method} ${url.pathname}`);
    const hit = candidates.find(({ route }) => route.method === req.method);
    if (!hit) {
      const allowed = [...new Set(candidates.map(({ route }) => route.method))].join(", ");
      res.setHeader("allow", allowed);
      throw new HttpError(405, `Method ${req.method} not allowed on ${url.pathname} (allowed: ${allowed})`);
    }
    checkClientVersion(req);
    const ctx = { req, res, url, params: hit.params, store, jobs: jobService, options };
    const { access } = hit.route;
    if (access !== "none") ctx.identity = authenticate(store, req);
    if (access === "org") ctx.org = resolveOrg(store, ctx.identity, url);
    if (access === "scope") Object.assign(ctx, resolveScope(store, ctx.identity, url));
    await hit.route.handler(ctx);
  }

  if (options.unrefTimers) server.on("listening", () => server.unref());

  return {
    server,
    store,
    jobs: jobService,
    /**
     * Listen on 127.0.0.1 (`port` 0: any free port), or accept on an inherited listening
     * socket (`{ fd }`); resolves with the base URL.
     */
    listen(port = 0) {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        const ready = () => {
          server.off("error", reject);
          resolve(`http://127.0.0.1:${server.address().port}`);
        };
        if (typeof port === "object") server.listen(port, ready);
        else server.listen(port, "127.0.0.1", ready);
      });
    },
    /**
     * End every running job (as failed), save, and close every connection. The server always
     * closes; a failed save rejects afterwards.
     */
    async close() {
      let saveError = null;
      try {
        jobService.shutdown();
      } catch (err) {
        saveError = err;
      }
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (saveError) throw new Error(`cannot save the simulated cloud's records: ${saveError.message}`);
    },
  };
}
