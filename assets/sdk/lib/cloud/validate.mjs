// Body checks of the simulated cloud: collect every problem as `path: issue`, then answer one
// 400 naming them all, as the real API's schema validation does.
import { HttpError, isPlainObject } from "./http.mjs";

export class Issues {
  constructor() {
    this.list = [];
  }

  add(path, message) {
    this.list.push(`${path.length > 0 ? path.join(".") : "(root)"}: ${message}`);
  }

  /** Throws a 400 `<prefix><issues joined by "; ">` when any issue was recorded. */
  throwIfAny(prefix) {
    if (this.list.length > 0) throw new HttpError(400, `${prefix}${this.list.join("; ")}`);
  }
}

/** The body must be a JSON object; anything else is a 400 naming `what`. */
export function requireObject(value, what) {
  if (!isPlainObject(value)) throw new HttpError(400, `${what} must be a JSON object`);
  return value;
}

export function checkString(issues, path, value, { min = 0, max = Infinity, pattern, patternMessage } = {}) {
  if (typeof value !== "string") {
    issues.add(path, `expected string, received ${describe(value)}`);
    return false;
  }
  if (value.length < min) issues.add(path, `must be at least ${min} characters`);
  else if (value.length > max) issues.add(path, `must be at most ${max} characters`);
  else if (pattern && !pattern.test(value)) issues.add(path, patternMessage ?? `does not match ${pattern}`);
  else return true;
  return false;
}

export function checkEnum(issues, path, value, allowed) {
  if (allowed.includes(value)) return true;
  issues.add(path, `expected one of ${allowed.map((v) => JSON.stringify(v)).join(" | ")}, received ${describe(value)}`);
  return false;
}

export function checkInteger(issues, path, value, { min = -Infinity } = {}) {
  if (!Number.isInteger(value)) {
    issues.add(path, `expected integer, received ${describe(value)}`);
    return false;
  }
  if (value < min) {
    issues.add(path, `must be >= ${min}`);
    return false;
  }
  return true;
}

export function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
