// HTTP/1.1 requests to the simulated cloud with `node:http`. Node's `fetch` would do, but its
// first use loads and compiles a WebAssembly HTTP parser, and a process cannot exit until that
// compilation finishes: hundreds of milliseconds per runner (seconds on a busy machine) for a
// cloud that is always plain HTTP on loopback. The requests on the wire are the same.
import { Agent, request as httpRequest } from "node:http";
import { Readable } from "node:stream";

// Idle keep-alive sockets are unref'd by the agent: they never hold a finished runner open.
const agent = new Agent({ keepAlive: true });

/** A response: status, lower-case headers, and a body read once (text, JSON or a stream). */
export class HttpResponse {
  constructor(incoming) {
    this.incoming = incoming;
    this.status = incoming.statusCode ?? 0;
    this.statusText = incoming.statusMessage ?? "";
    this.ok = this.status >= 200 && this.status < 300;
    this.headers = incoming.headers;
  }

  /** The body as a Node stream of Buffers. */
  get body() {
    return this.incoming;
  }

  async text() {
    const chunks = [];
    for await (const chunk of this.incoming) chunks.push(chunk);
    return Buffer.concat(chunks).toString("utf8");
  }

  async json() {
    return JSON.parse(await this.text());
  }

  /** Stop reading: the connection is closed instead of drained. */
  cancel() {
    this.incoming.destroy();
  }

  /** The same response as a WHATWG `Response` (what the SDK hands to user code). */
  toWebResponse() {
    const headers = new Headers();
    for (const [name, value] of Object.entries(this.headers)) {
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
    }
    return new Response(Readable.toWeb(this.incoming), { status: this.status, statusText: this.statusText, headers });
  }
}

/** One request; rejects on a transport failure, or with `signal.reason` once it aborts. */
export function request(url, { method = "GET", headers = {}, body, signal } = {}) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const req = httpRequest(url, { method, headers, agent });
    let response = null;
    // An abort while the body is being read errors the body stream with the reason.
    const onAbort = () => (response ?? req).destroy(signal.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("response", (incoming) => {
      response = incoming;
      incoming.on("close", () => signal?.removeEventListener("abort", onAbort));
      resolve(new HttpResponse(incoming));
    });
    req.on("error", (err) => {
      signal?.removeEventListener("abort", onAbort);
      reject(signal?.aborted ? signal.reason : err);
    });
    req.end(body);
  });
}
