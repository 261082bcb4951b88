// What the simulated model answers: a placeholder that names the model or adapter and quotes
// the prompt, shaped to whatever output constraint the request asks for (a JSON schema, JSON
// mode, a choice list), so code that parses replies keeps working.

const EXCERPT_CHARS = 80;

export function replyText(target, body) {
  const format = body.responseFormat;
  if (format?.type === "json_schema") return JSON.stringify(instanceOf(format.json_schema?.schema));
  const structured = body.structuredOutputs;
  if (Array.isArray(structured?.choice) && structured.choice.length > 0) return String(structured.choice[0]);
  if (format?.type === "json_object" || structured?.json_object) {
    return JSON.stringify({ reply: "simulated", model: target.label });
  }
  if (structured?.json) return JSON.stringify(instanceOf(structured.json));
  const lastUser = [...body.messages].reverse().find((m) => m.role === "user" && typeof m.content === "string");
  const prompt = lastUser ? lastUser.content.replace(/\s+/g, " ").trim() : "";
  const quoted = prompt.length > EXCERPT_CHARS ? `${prompt.slice(0, EXCERPT_CHARS - 1)}…` : prompt;
  return prompt === ""
    ? `(simulated reply from ${target.label})`
    : `(simulated reply from ${target.label}) You said: "${quoted}". No model ran: this answer comes from the simulated Arkor cloud.`;
}

/** Streaming pieces: words with their trailing space; long runs without spaces in slices. */
export function tokensOf(text) {
  const pieces = [];
  for (const word of text.split(/(?<= )/)) {
    for (let i = 0; i < word.length; i += 12) pieces.push(word.slice(i, i + 12));
  }
  return pieces;
}

// A small value that satisfies a JSON schema's common keywords (type, properties, enum, const).
function instanceOf(schema, depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 8) return null;
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object": {
      const value = {};
      for (const [key, child] of Object.entries(schema.properties ?? {})) value[key] = instanceOf(child, depth + 1);
      return value;
    }
    case "array":
      return schema.items ? [instanceOf(schema.items, depth + 1)] : [];
    case "string":
      return "simulated";
    case "integer":
    case "number":
      return typeof schema.minimum === "number" ? schema.minimum : 0;
    case "boolean":
      return false;
    default:
      return null;
  }
}
