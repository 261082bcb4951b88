// Small HTTP helpers of the simulated cloud: JSON replies, bounded body reads and the error
// type every route throws to answer with a status and `{ "error": message }`.

/** Largest request body the simulated cloud reads (the real API rejects large bodies too). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A reply the router turns into `status` + `{ error: message, ...extra }`. */
export class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.extra = extra;
  }
}

export function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res, error) {
  sendJson(res, error.status, { error: error.message, ...error.extra });
}

export function sendNoContent(res) {
  res.writeHead(204);
  res.end();
}

/** The request body as text; 413 past MAX_BODY_BYTES. */
export function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) {
        reject(new HttpError(413, `Request body exceeds ${MAX_BODY_BYTES} bytes`));
      } else {
        resolve(Buffer.concat(chunks).toString("utf8"));
      }
    });
    req.on("error", reject);
  });
}

/** The body parsed as JSON: 400 `Invalid JSON body` when it is not, `{}` when empty is allowed. */
export async function readJson(req, { allowEmpty = false } = {}) {
  const text = await readBody(req);
  if (text.trim() === "" && allowEmpty) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "Invalid JSON body");
  }
}

export function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
