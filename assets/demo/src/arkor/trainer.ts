import { createTrainer } from "arkor";
import { callbacks } from "./callbacks";

// The job config. Changing anything here (say learningRate or maxSteps) changes the
// configHash: on save, arkor tui asks the running job to stop after its next checkpoint
// (SIGTERM early stop) and then starts a new run with the new config.
export const trainer = createTrainer({
  name: "demo-triage",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  datasetFormat: { type: "chatml" },
  maxSteps: 200,
  learningRate: 2e-4,
  lrSchedulerType: "cosine",
  warmupSteps: 10,
  saveSteps: 10,
  evalSteps: 25,
  lora: { r: 16, alpha: 16, loadIn4bit: false },
  callbacks,
});
