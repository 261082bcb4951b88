import type { TrainerCallbacks } from "arkor";

// Callbacks run on your machine while the job trains. Edit this file and save: the job
// config is unchanged, so arkor tui hot-swaps these callbacks into the running job (SIGUSR2)
// and training continues. Try changing LABEL to "v2" and watch the log lines change.
const LABEL = "v1";

function fixed(value: number | null, digits: number): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "-";
}

export const callbacks: Partial<TrainerCallbacks> = {
  onStarted: ({ job }) => {
    console.log(`[${LABEL}] job ${job.id} started (${job.name})`);
  },
  onLog: ({ step, loss, evalLoss, learningRate, epoch }) => {
    if (loss === null && evalLoss !== null) {
      console.log(`[${LABEL}] step=${step} evalLoss=${fixed(evalLoss, 4)}`);
      return;
    }
    const lr = typeof learningRate === "number" ? learningRate.toExponential(2) : "-";
    console.log(`[${LABEL}] step=${step} loss=${fixed(loss, 4)} lr=${lr} epoch=${fixed(epoch, 2)}`);
  },
  onCheckpoint: ({ step }) => {
    console.log(`[${LABEL}] checkpoint saved at step ${step}`);
  },
  onCompleted: ({ job }) => {
    console.log(`[${LABEL}] training completed (${job.id})`);
  },
  onFailed: ({ error }) => {
    console.error(`[${LABEL}] training failed: ${error}`);
  },
};
