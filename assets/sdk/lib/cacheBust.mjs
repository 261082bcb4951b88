// Content-addressed cache-bust URL for re-importing a rebuilt artifact. Node never evicts an
// imported module, so the key is the file's content hash: one module record per distinct build,
// not one per import. An unreadable file gets a unique key so its import fails on its own.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

let missSeq = 0;

export function moduleCacheBustKey(filePath) {
  try {
    return createHash("sha256").update(readFileSync(filePath)).digest("hex").slice(0, 16);
  } catch {
    missSeq += 1;
    return `miss-${missSeq}`;
  }
}

export function moduleCacheBustUrl(filePath) {
  return `${pathToFileURL(filePath).href}?t=${moduleCacheBustKey(filePath)}`;
}
