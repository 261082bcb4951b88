// configHash: the reference's hashJobConfig, restated. sha256 over a canonical JSON text
// (JSON.stringify semantics, object keys sorted by UTF-16 code units at every level), first
// 16 hex chars. The console computes the same hash in Rust; both must agree byte for byte.
import { createHash } from "node:crypto";

const BOXED_TAGS = new Set(["[object Number]", "[object String]", "[object Boolean]"]);

// Returns undefined for values JSON.stringify drops from an object (undefined, symbols,
// plain functions, toJSON results that are one of those).
function canonical(value, key, onStack, applyToJSON = true) {
  if (value === null) return "null";
  if (value === undefined || typeof value === "symbol") return undefined;
  if (typeof value === "function") {
    // JSON.stringify consults toJSON on callables too; a plain function is omitted.
    if (applyToJSON && typeof value.toJSON === "function") {
      return canonical(value.toJSON(key), key, onStack, false);
    }
    return undefined;
  }
  if (typeof value !== "object") return JSON.stringify(value);
  // Marked before toJSON runs so `{ toJSON() { return this } }` fails as a cycle instead of
  // recursing forever (the reference does the same, on purpose).
  if (onStack.has(value)) throw new TypeError("Converting circular structure to JSON");
  onStack.add(value);
  try {
    if (applyToJSON && typeof value.toJSON === "function") {
      return canonical(value.toJSON(key), key, onStack, false);
    }
    if (BOXED_TAGS.has(Object.prototype.toString.call(value))) {
      return canonical(value.valueOf(), key, onStack);
    }
    if (Array.isArray(value)) {
      const items = [];
      // Index loop (not map/for-of) so holes serialise as null like JSON.stringify.
      for (let i = 0; i < value.length; i += 1) {
        items.push(canonical(value[i], String(i), onStack) ?? "null");
      }
      return `[${items.join(",")}]`;
    }
    const parts = [];
    // Default sort = UTF-16 code unit order, which is what the contract requires.
    for (const k of Object.keys(value).sort()) {
      const text = canonical(value[k], k, onStack);
      if (text !== undefined) parts.push(`${JSON.stringify(k)}:${text}`);
    }
    return `{${parts.join(",")}}`;
  } finally {
    // Only ancestors count as cycles; a value shared by two siblings is fine.
    onStack.delete(value);
  }
}

/** Canonical JSON text of a value (undefined when JSON.stringify would produce nothing). */
export function stableStringify(value) {
  return canonical(value, "", new WeakSet());
}

/** configHash of a JobConfig. Throws on a circular config or a throwing toJSON. */
export function hashJobConfig(config) {
  const text = stableStringify(config) ?? "null";
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
