// Identifiers and timestamps of the simulated cloud.
import { createHash, randomBytes, randomUUID } from "node:crypto";

export const newUuid = () => randomUUID();
export const randomHex = (bytes) => randomBytes(bytes).toString("hex");
/** Job ids keep the simulated SDK's historical `sim-` + 12 hex form. */
export const newJobId = () => `sim-${randomHex(6)}`;
export const nowIso = () => new Date().toISOString();
/** Secrets (tokens, API keys) are stored as hashes, as a real service would. */
export const hashSecret = (secret) => createHash("sha256").update(secret).digest("hex");
