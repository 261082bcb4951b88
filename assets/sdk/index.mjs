// Public entry of the simulated arkor SDK: the same names a project imports from the real one.
export { createArkor, isArkor } from "./lib/arkor.mjs";
export { createTrainer } from "./lib/trainer.mjs";
export { runTrainer } from "./lib/runner.mjs";
export { CloudApiError } from "./lib/errors.mjs";
