// Types of the simulated arkor SDK: the public types of the real `arkor` package (0.0.3-alpha.1)
// for everything this package exports, so editors and `tsc` treat a project the same way.

export type JobStatus = "queued" | "running" | "completed" | "failed" | "cancelled";

export interface HuggingfaceDatasetSource {
  type: "huggingface";
  name: string;
  split?: string;
  subset?: string;
}

export interface BlobDatasetSource {
  type: "blob";
  url: string;
  token?: string;
}

export type DatasetSource = HuggingfaceDatasetSource | BlobDatasetSource;

/** The cloud-side job config derived from a TrainerInput (what configHash is computed over). */
export interface JobConfig {
  model: string;
  datasetSource: DatasetSource;
  datasetFormat?: unknown;
  maxSteps?: number;
  numTrainEpochs?: number;
  learningRate?: number;
  batchSize?: number;
  optim?: string;
  lrSchedulerType?: string;
  weightDecay?: number;
  warmupSteps?: unknown;
  loggingSteps?: unknown;
  saveSteps?: unknown;
  evalSteps?: unknown;
  loraR?: number;
  loraAlpha?: number;
  maxLength?: number;
  loadIn4bit?: boolean;
  trainOnResponsesOnly?: unknown;
  datasetSplit?: unknown;
  dryRun?: boolean;
}

export interface TrainingJob {
  id: string;
  orgId: string;
  projectId: string;
  name: string;
  status: JobStatus;
  config: JobConfig;
  error?: string | null;
  createdAt: string;
  startedAt?: string | null;
  completedAt?: string | null;
}

export interface TrainingResult {
  job: TrainingJob;
  artifacts: unknown[];
}

export interface TrainingLogContext {
  step: number;
  loss: number | null;
  evalLoss: number | null;
  learningRate: number | null;
  epoch: number | null;
  samplesPerSecond: number | null;
  job: TrainingJob;
}

export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; content: string; tool_calls?: ToolCall[] }
  | { role: "assistant"; content?: string | null; tool_calls: [ToolCall, ...ToolCall[]] }
  | { role: "tool"; content: string; tool_call_id: string };

export interface ToolDefinition {
  type: "function";
  function: {
    name: string;
    description?: string;
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

export type ToolChoice =
  | "auto"
  | "none"
  | "required"
  | { type: "function"; function: { name: string } };

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | {
      type: "json_schema";
      json_schema: {
        name: string;
        description?: string;
        schema: Record<string, unknown>;
        strict?: boolean;
      };
    };

type ExactlyOne<T> = {
  [K in keyof T]: Record<K, T[K]> & Partial<Record<Exclude<keyof T, K>, never>>;
}[keyof T];

interface StructuredOutputsCommon {
  disable_any_whitespace?: boolean;
  disable_additional_properties?: boolean;
  whitespace_pattern?: string;
}

export type StructuredOutputs = ExactlyOne<{
  json: Record<string, unknown>;
  regex: string;
  choice: string[];
  grammar: string;
  json_object: true;
}> &
  StructuredOutputsCommon;

export interface InferArgs {
  messages: ChatMessage[];
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stream?: boolean;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  responseFormat?: ResponseFormat;
  structuredOutputs?: StructuredOutputs;
  signal?: AbortSignal;
}

export interface CheckpointContext {
  step: number;
  adapter: { kind: "checkpoint"; jobId: string; step: number };
  job: TrainingJob;
  infer: (args: InferArgs) => Promise<Response>;
  artifacts?: unknown[];
}

type MaybePromise<T> = T | Promise<T>;

export interface TrainerCallbacks {
  onStarted: (ctx: { job: TrainingJob }) => MaybePromise<unknown>;
  onLog: (ctx: TrainingLogContext) => MaybePromise<unknown>;
  onCheckpoint: (ctx: CheckpointContext) => MaybePromise<unknown>;
  onCompleted: (ctx: { job: TrainingJob; artifacts: unknown[] }) => MaybePromise<unknown>;
  onFailed: (ctx: { job: TrainingJob; error: string }) => MaybePromise<unknown>;
}

export interface LoraConfig {
  r: number;
  alpha: number;
  maxLength?: number;
  loadIn4bit?: boolean;
}

export interface TrainerInput {
  name: string;
  model: string;
  dataset: DatasetSource;
  lora?: LoraConfig;
  maxSteps?: number;
  numTrainEpochs?: number;
  learningRate?: number;
  batchSize?: number;
  optim?: string;
  lrSchedulerType?: string;
  weightDecay?: number;
  warmupSteps?: unknown;
  loggingSteps?: unknown;
  saveSteps?: unknown;
  evalSteps?: unknown;
  trainOnResponsesOnly?: unknown;
  datasetFormat?: unknown;
  datasetSplit?: unknown;
  dryRun?: boolean;
  callbacks?: Partial<TrainerCallbacks>;
  abortSignal?: AbortSignal;
}

export interface Trainer {
  readonly name: string;
  start(): Promise<{ jobId: string }>;
  wait(): Promise<TrainingResult>;
  cancel(): Promise<void>;
}

export interface Arkor {
  readonly _kind: "arkor";
  readonly trainer?: Trainer;
}

export interface ArkorInput {
  trainer?: Trainer;
}

export interface ArkorProjectState {
  orgSlug: string;
  projectSlug: string;
  projectId: string;
}

export declare function createArkor(input: ArkorInput): Arkor;
export declare function isArkor(value: unknown): value is Arkor;
export declare function createTrainer(input: TrainerInput): Trainer;
export declare function runTrainer(file?: string): Promise<void>;

export declare class CloudApiError extends Error {
  status: number;
  constructor(status: number, message: string);
}
