//! Chat with a base model or a job's adapter (`POST /v1/inference/chat?orgSlug&projectSlug`),
//! the reply streamed as server-sent events and read the way the Studio reads it: `ping`
//! frames are skipped, `end` or `data: [DONE]` ends the reply, and each frame's text is
//! `choices[0].delta.content`, else `content`, else `text`, else a bare JSON string, else
//! the raw data when it is not JSON at all.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{CloudClient, CloudError, UpstreamRequest};
use super::job_events::sse::{SseFrame, SseParser};
use super::state::ProjectScope;

/// The base models the cloud's chat accepts without an adapter (the Studio's list).
pub const BASE_MODELS: &[&str] = &["unsloth/gemma-4-E4B-it"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

/// A job's trained adapter: its final one, or the one saved at a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AdapterRef {
    pub job_id: String,
    /// `None`: the final adapter.
    pub checkpoint: Option<u64>,
}

impl AdapterRef {
    pub fn final_of(job_id: impl Into<String>) -> Self {
        Self {
            job_id: job_id.into(),
            checkpoint: None,
        }
    }

    pub fn checkpoint_of(job_id: impl Into<String>, step: u64) -> Self {
        Self {
            job_id: job_id.into(),
            checkpoint: Some(step),
        }
    }

    /// `{kind: "final" | "checkpoint", jobId, step?}`.
    pub fn to_json(&self) -> Value {
        match self.checkpoint {
            None => json!({"kind": "final", "jobId": self.job_id}),
            Some(step) => json!({"kind": "checkpoint", "jobId": self.job_id, "step": step}),
        }
    }

    /// Reads `{kind, jobId, step?}`; `None` for anything else.
    pub fn from_json(value: &Value) -> Option<Self> {
        let job_id = value.get("jobId")?.as_str()?;
        match value.get("kind")?.as_str()? {
            "final" => Some(Self::final_of(job_id)),
            "checkpoint" => Some(Self::checkpoint_of(job_id, value.get("step")?.as_u64()?)),
            _ => None,
        }
    }
}

/// Who answers a chat.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChatModel {
    Base(String),
    Adapter(AdapterRef),
}

/// One chat turn to send: the whole conversation so far, the new prompt last.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    pub model: ChatModel,
    pub messages: Vec<ChatMessage>,
}

impl ChatRequest {
    /// The body the Studio sends: `baseModel` or `adapter`, the messages, `stream: true`.
    pub fn body(&self) -> Value {
        let messages: Vec<Value> = self
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let mut body = json!({"messages": messages, "stream": true});
        match &self.model {
            ChatModel::Base(model) => body["baseModel"] = json!(model),
            ChatModel::Adapter(adapter) => body["adapter"] = adapter.to_json(),
        }
        body
    }
}

impl UpstreamRequest {
    /// `POST /v1/inference/chat` with the scope query and the body as given. No time
    /// limit: a reply streams for as long as the model writes.
    pub fn inference_chat(scope: &ProjectScope, body: impl Into<Bytes>) -> Self {
        Self::new(Method::POST, "/v1/inference/chat")
            .scoped(scope)
            .json(body)
            .unlimited()
    }
}

/// A chat that did not produce a reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// The cloud answered non-2xx; `body` is its text as sent (the Studio shows it as is).
    #[error("{}", if .body.is_empty() { format!("HTTP {status}") } else { body.clone() })]
    Rejected { status: u16, body: String },
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

/// A reply being streamed. Dropping it closes the connection (stopping the reply).
pub struct ChatReply {
    body: BoxStream<'static, Result<Bytes, CloudError>>,
    decoder: ChatDecoder,
    /// Text decoded but not handed out yet.
    pending: std::collections::VecDeque<String>,
    /// A non-streamed answer (`application/json`): decoded whole at the end.
    whole_json: Option<Vec<u8>>,
}

impl ChatReply {
    /// The next piece of text; `None` once the reply is complete.
    pub async fn next_text(&mut self) -> Option<Result<String, CloudError>> {
        loop {
            if let Some(text) = self.pending.pop_front() {
                return Some(Ok(text));
            }
            if self.decoder.done {
                return None;
            }
            match self.body.next().await {
                Some(Ok(chunk)) => match &mut self.whole_json {
                    Some(buffer) => buffer.extend_from_slice(&chunk),
                    None => self.pending.extend(self.decoder.feed(&chunk)),
                },
                Some(Err(e)) => {
                    self.decoder.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.decoder.done = true;
                    if let Some(buffer) = self.whole_json.take() {
                        self.pending.extend(completion_text(&buffer));
                    }
                }
            }
        }
    }
}

impl CloudClient {
    /// Send one chat turn; the reply streams from the returned [`ChatReply`].
    pub async fn open_chat(
        &self,
        scope: &ProjectScope,
        request: &ChatRequest,
    ) -> Result<ChatReply, ChatError> {
        let upstream = UpstreamRequest::inference_chat(scope, request.body().to_string());
        let path = upstream.path.clone();
        let response = self.send(upstream).await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(ChatError::Rejected {
                status: status.as_u16(),
                body,
            });
        }
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        let client = self.clone();
        let body = response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| client.transport_error(&path, &e)))
            .boxed();
        Ok(ChatReply {
            body,
            decoder: ChatDecoder::default(),
            pending: Default::default(),
            whole_json: is_json.then(Vec::new),
        })
    }
}

/// Bytes of a chat's event stream in, text out.
#[derive(Debug, Default)]
pub struct ChatDecoder {
    parser: SseParser,
    frames: Vec<SseFrame>,
    /// `end` or `[DONE]` arrived: anything after it is ignored.
    pub done: bool,
}

impl ChatDecoder {
    /// The text of every complete frame in `chunk`, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut texts = Vec::new();
        if self.done {
            return texts;
        }
        self.parser.feed(chunk, &mut self.frames);
        for frame in self.frames.drain(..) {
            if frame.event.as_deref() == Some("ping") {
                continue;
            }
            if frame.event.as_deref() == Some("end") || frame.data == "[DONE]" {
                self.done = true;
                break;
            }
            if let Some(text) = delta_text(&frame.data) {
                texts.push(text);
            }
        }
        texts
    }
}

/// The text one frame carries, if any.
pub fn delta_text(data: &str) -> Option<String> {
    if data.is_empty() {
        return None;
    }
    let Ok(parsed) = serde_json::from_str::<Value>(data) else {
        return Some(data.to_owned());
    };
    if let Value::String(text) = parsed {
        return Some(text);
    }
    let object = parsed.as_object()?;
    let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    string(parsed.pointer("/choices/0/delta/content"))
        .or_else(|| string(object.get("content")))
        .or_else(|| string(object.get("text")))
}

/// The text of a non-streamed `chat.completion` answer.
fn completion_text(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_as_the_studio_reads_them() {
        assert_eq!(
            delta_text(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#).as_deref(),
            Some("Hi")
        );
        assert_eq!(delta_text(r#"{"content":"c"}"#).as_deref(), Some("c"));
        assert_eq!(delta_text(r#"{"text":"t"}"#).as_deref(), Some("t"));
        assert_eq!(delta_text(r#""bare""#).as_deref(), Some("bare"));
        assert_eq!(delta_text("not json").as_deref(), Some("not json"));
        assert_eq!(delta_text(r#"{"choices":[{"delta":{}}]}"#), None);
        assert_eq!(delta_text("42"), None);
        assert_eq!(delta_text(""), None);
    }

    #[test]
    fn the_decoder_skips_pings_and_stops_at_done_or_end() {
        let mut decoder = ChatDecoder::default();
        let mut text = decoder.feed(b"event: ping\ndata: {}\n\ndata: \"He");
        assert!(text.is_empty());
        text.extend(
            decoder.feed(b"l\"\n\ndata: {\"content\":\"lo\"}\n\ndata: [DONE]\n\ndata: \"x\"\n\n"),
        );
        assert_eq!(text, ["Hel", "lo"]);
        assert!(decoder.done);
        assert!(decoder.feed(b"data: \"late\"\n\n").is_empty());

        let mut decoder = ChatDecoder::default();
        assert_eq!(
            decoder.feed(b"data: \"a\"\n\nevent: end\ndata: {}\n\ndata: \"b\"\n\n"),
            ["a"]
        );
    }

    #[test]
    fn bodies_name_the_model_as_the_studio_does() {
        let request = ChatRequest {
            model: ChatModel::Adapter(AdapterRef::checkpoint_of("j1", 40)),
            messages: vec![ChatMessage {
                role: ChatRole::User,
                content: "hi".into(),
            }],
        };
        assert_eq!(
            request.body(),
            json!({"messages": [{"role": "user", "content": "hi"}], "stream": true,
                "adapter": {"kind": "checkpoint", "jobId": "j1", "step": 40}})
        );
        let base = ChatRequest {
            model: ChatModel::Base("m".into()),
            messages: vec![],
        };
        assert_eq!(base.body()["baseModel"], json!("m"));
        assert_eq!(
            AdapterRef::from_json(&AdapterRef::final_of("j").to_json()),
            Some(AdapterRef::final_of("j"))
        );
    }

    #[test]
    fn a_rejected_chat_shows_its_body_or_status() {
        let with_body = ChatError::Rejected {
            status: 409,
            body: r#"{"error":"no final adapter"}"#.into(),
        };
        assert_eq!(with_body.to_string(), r#"{"error":"no final adapter"}"#);
        let empty = ChatError::Rejected {
            status: 502,
            body: String::new(),
        };
        assert_eq!(empty.to_string(), "HTTP 502");
    }
}
