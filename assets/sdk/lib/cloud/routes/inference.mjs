// `POST /v1/inference/chat?orgSlug=&projectSlug=`: a base model or a job's adapter
// (`{kind: "final" | "checkpoint", jobId, step?}`) answers, streamed token by token as
// OpenAI-style `chat.completion.chunk` frames ending with `data: [DONE]`, or as one
// `chat.completion` JSON with `stream: false`. Errors are non-2xx JSON.
import { isPlainObject, readJson, sendJson } from "../http.mjs";
import { randomHex } from "../ids.mjs";
import { replyText, tokensOf } from "../replies.mjs";
import { adapterJob } from "./jobs.mjs";
import { Issues, checkEnum, checkInteger, checkString, describe, requireObject } from "../validate.mjs";

/** Delay between streamed tokens unless the server is told otherwise. */
export const DEFAULT_TOKEN_MS = 30;

const ROLES = ["system", "user", "assistant", "tool"];

export async function chat(ctx) {
  const { req, res, options } = ctx;
  const body = requireObject(await readJson(req), "The chat body");
  checkChatBody(body);
  const target = resolveTarget(ctx, body);
  const completionId = `chatcmpl-sim-${randomHex(8)}`;
  const created = Math.floor(Date.now() / 1000);
  let tokens = tokensOf(replyText(target, body));
  let finishReason = "stop";
  if (Number.isInteger(body.maxTokens) && tokens.length > body.maxTokens) {
    tokens = tokens.slice(0, body.maxTokens);
    finishReason = "length";
  }
  const usage = { prompt_tokens: promptTokens(body.messages), completion_tokens: tokens.length };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;

  if (body.stream === false) {
    sendJson(res, 200, {
      id: completionId,
      object: "chat.completion",
      created,
      model: target.model,
      choices: [{ index: 0, message: { role: "assistant", content: tokens.join("") }, finish_reason: finishReason }],
      usage,
    });
    return;
  }

  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform" });
  res.flushHeaders();
  const chunk = (delta, finish) =>
    `data: ${JSON.stringify({
      id: completionId,
      object: "chat.completion.chunk",
      created,
      model: target.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    })}\n\n`;
  const tokenMs = options.tokenMs ?? DEFAULT_TOKEN_MS;
  let next = 0;
  let timer = null;
  res.on("close", () => clearTimeout(timer));
  const send = () => {
    if (res.destroyed) return;
    if (next < tokens.length) {
      const delta = next === 0 ? { role: "assistant", content: tokens[0] } : { content: tokens[next] };
      next += 1;
      res.write(chunk(delta, null));
      timer = setTimeout(send, tokenMs);
      if (options.unrefTimers) timer.unref();
      return;
    }
    res.end(`${chunk({}, finishReason)}data: [DONE]\n\n`);
  };
  send();
}

function checkChatBody(body) {
  const issues = new Issues();
  if (!Array.isArray(body.messages)) {
    issues.add(["messages"], `expected array, received ${describe(body.messages)}`);
  } else if (body.messages.length === 0) {
    issues.add(["messages"], "must contain at least 1 message");
  } else {
    body.messages.forEach((message, i) => checkMessage(issues, ["messages", i], message));
  }
  const hasBase = body.baseModel !== undefined;
  const hasAdapter = body.adapter !== undefined;
  if (hasBase === hasAdapter) {
    issues.add([], hasBase ? "give either baseModel or adapter, not both" : "give baseModel or adapter");
  } else if (hasBase) {
    checkString(issues, ["baseModel"], body.baseModel, { min: 1 });
  } else if (!isPlainObject(body.adapter)) {
    issues.add(["adapter"], `expected object, received ${describe(body.adapter)}`);
  } else {
    checkEnum(issues, ["adapter", "kind"], body.adapter.kind, ["final", "checkpoint"]);
    checkString(issues, ["adapter", "jobId"], body.adapter.jobId, { min: 1 });
    if (body.adapter.kind === "checkpoint") checkInteger(issues, ["adapter", "step"], body.adapter.step, { min: 1 });
  }
  if (body.stream !== undefined && typeof body.stream !== "boolean") issues.add(["stream"], "expected boolean");
  checkNumber(issues, "temperature", body.temperature, 0, 2);
  checkNumber(issues, "topP", body.topP, 0, 1);
  if (body.maxTokens !== undefined) checkInteger(issues, ["maxTokens"], body.maxTokens, { min: 1 });
  issues.throwIfAny("Invalid chat body: ");
}

function checkMessage(issues, path, message) {
  if (!isPlainObject(message)) {
    issues.add(path, `expected object, received ${describe(message)}`);
    return;
  }
  if (!checkEnum(issues, [...path, "role"], message.role, ROLES)) return;
  const toolCallTurn = message.role === "assistant" && Array.isArray(message.tool_calls) && message.tool_calls.length > 0;
  if (!(toolCallTurn && (message.content === null || message.content === undefined))) {
    checkString(issues, [...path, "content"], message.content);
  }
  if (message.role === "tool") checkString(issues, [...path, "tool_call_id"], message.tool_call_id, { min: 1 });
}

function checkNumber(issues, name, value, min, max) {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    issues.add([name], `expected a number from ${min} to ${max}`);
  }
}

/** Who answers: a base model, or an adapter of a job in this project that exists by now. */
function resolveTarget(ctx, body) {
  if (body.baseModel !== undefined) return { label: body.baseModel, model: body.baseModel };
  const job = adapterJob(ctx, body.adapter);
  const { kind, jobId, step } = body.adapter;
  return { label: kind === "final" ? `${jobId} final` : `${jobId} checkpoint ${step}`, model: job.config.model };
}

function promptTokens(messages) {
  return messages.reduce((sum, m) => sum + (typeof m.content === "string" ? m.content.split(/\s+/).filter(Boolean).length : 0), 0);
}
