// Server-sent events from a response (httpClient.mjs): one `{ id, event, data }` per frame,
// with the last `id:` carried forward and `event` defaulting to "message", as EventSource
// reads them. Returning early (a `break` in `for await`) closes the connection.

export async function* iterateEvents(response) {
  const decoder = new TextDecoder();
  let buffer = "";
  let lastId;
  let event = "message";
  let data = [];
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) !== -1) {
        // A CR at the end may be the first half of a CRLF split across chunks.
        if (buffer[newline] === "\r" && newline === buffer.length - 1) break;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (data.length > 0) yield { id: lastId, event, data: data.join("\n") };
          event = "message";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        const fieldValue = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(fieldValue);
        else if (field === "event") event = fieldValue;
        else if (field === "id" && !fieldValue.includes("\0")) lastId = fieldValue;
      }
    }
  } finally {
    response.cancel();
  }
}
