//! The Playground view's state (`3`): a multi-turn chat with a base model or a job's adapter,
//! the reply streamed in as the cloud writes it, stoppable mid-way; an error reply reads
//! `[error] <body>` as in the Studio. The prompt is a one-line [`TextInput`].

use crate::core::cloud::inference::{
    AdapterRef, BASE_MODELS, ChatMessage, ChatModel, ChatRequest, ChatRole,
};
use crate::tui::cloud_tasks::CloudRequest;
use crate::tui::views::text_input::TextInput;

/// How a turn of the model stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyState {
    Streaming,
    Done,
    /// The user stopped it; the text so far is kept (and sent as context next turn).
    Stopped,
    /// The cloud refused or the connection broke: the text is `[error] …`.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub role: ChatRole,
    pub text: String,
    /// Only for the model's turns.
    pub state: ReplyState,
}

#[derive(Debug)]
pub struct Playground {
    pub model: ChatModel,
    pub turns: Vec<Turn>,
    pub input: TextInput,
    /// The prompt field has the keys.
    pub editing: bool,
    /// Conversation lines hidden below (0: the newest are shown).
    pub scroll: usize,
    /// The chat whose reply is streaming, if any.
    streaming: Option<u64>,
    chats: u64,
}

impl Default for Playground {
    fn default() -> Self {
        Self {
            model: ChatModel::Base(BASE_MODELS[0].to_owned()),
            turns: Vec::new(),
            input: TextInput::default(),
            editing: false,
            scroll: 0,
            streaming: None,
            chats: 0,
        }
    }
}

impl Playground {
    /// `adapter: {kind: "final" | "checkpoint", jobId, step?}` from now on; the prompt gets
    /// the keys.
    pub fn use_adapter(&mut self, adapter: AdapterRef) {
        self.model = ChatModel::Adapter(adapter);
        self.editing = true;
    }

    pub fn use_base_model(&mut self) {
        self.model = ChatModel::Base(BASE_MODELS[0].to_owned());
    }

    pub fn is_streaming(&self) -> bool {
        self.streaming.is_some()
    }

    /// Send the prompt with the conversation so far. `None` when there is nothing to send
    /// or a reply is still streaming (stop it first).
    pub fn send(&mut self) -> Option<CloudRequest> {
        if self.input.is_blank() || self.streaming.is_some() {
            return None;
        }
        let prompt = self.input.take();
        self.turns.push(Turn {
            role: ChatRole::User,
            text: prompt,
            state: ReplyState::Done,
        });
        // Earlier error replies are the Studio's display only, never context for the model.
        let messages = self
            .turns
            .iter()
            .filter(|t| t.state != ReplyState::Failed && !t.text.is_empty())
            .map(|t| ChatMessage {
                role: t.role,
                content: t.text.clone(),
            })
            .collect();
        self.turns.push(Turn {
            role: ChatRole::Assistant,
            text: String::new(),
            state: ReplyState::Streaming,
        });
        self.chats += 1;
        self.streaming = Some(self.chats);
        self.scroll = 0;
        Some(CloudRequest::Chat {
            chat_id: self.chats,
            request: ChatRequest {
                model: self.model.clone(),
                messages,
            },
        })
    }

    fn streaming_turn(&mut self, chat_id: u64) -> Option<&mut Turn> {
        if self.streaming != Some(chat_id) {
            return None;
        }
        self.turns.last_mut()
    }

    /// A piece of the reply arrived. Returns whether it belonged to the streaming reply.
    pub fn reply_text(&mut self, chat_id: u64, text: &str) -> bool {
        match self.streaming_turn(chat_id) {
            Some(turn) => {
                turn.text.push_str(text);
                true
            }
            None => false,
        }
    }

    /// The reply ended: complete, or with `error` (shown as `[error] <error>`).
    pub fn reply_ended(&mut self, chat_id: u64, error: Option<String>) -> bool {
        let Some(turn) = self.streaming_turn(chat_id) else {
            return false;
        };
        match error {
            None => turn.state = ReplyState::Done,
            Some(error) => {
                if !turn.text.is_empty() {
                    // Keep what arrived before the break as its own (stopped) turn.
                    turn.state = ReplyState::Stopped;
                    self.turns.push(Turn {
                        role: ChatRole::Assistant,
                        text: String::new(),
                        state: ReplyState::Failed,
                    });
                }
                if let Some(turn) = self.turns.last_mut() {
                    turn.text = format!("[error] {error}");
                    turn.state = ReplyState::Failed;
                }
            }
        }
        self.streaming = None;
        true
    }

    /// Stop the streaming reply; the request closes its connection.
    pub fn stop(&mut self) -> Option<CloudRequest> {
        let chat_id = self.streaming.take()?;
        if let Some(turn) = self.turns.last_mut() {
            turn.state = ReplyState::Stopped;
        }
        Some(CloudRequest::StopChat { chat_id })
    }

    /// Forget the conversation (a streaming reply is stopped first).
    pub fn clear(&mut self) -> Option<CloudRequest> {
        let stop = self.stop();
        self.turns.clear();
        self.scroll = 0;
        stop
    }

    /// The conversation as plain text, for the clipboard.
    pub fn transcript(&self) -> String {
        let mut out = format!("model: {}\n", model_label(&self.model));
        for turn in &self.turns {
            let who = match turn.role {
                ChatRole::User => "you",
                ChatRole::Assistant => "model",
                ChatRole::System => "system",
            };
            out.push_str(&format!("\n{who}: {}\n", turn.text));
        }
        out
    }

    pub fn scroll_by(&mut self, lines: isize) {
        self.scroll = self.scroll.saturating_add_signed(lines);
    }
}

/// `unsloth/gemma-4-E4B-it (base)`, `job j-1 · final adapter`, `job j-1 · checkpoint 40`.
pub fn model_label(model: &ChatModel) -> String {
    match model {
        ChatModel::Base(name) => format!("{name} (base model)"),
        ChatModel::Adapter(AdapterRef {
            job_id,
            checkpoint: None,
        }) => format!("job {job_id} · final adapter"),
        ChatModel::Adapter(AdapterRef {
            job_id,
            checkpoint: Some(step),
        }) => format!("job {job_id} · checkpoint {step} adapter"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::views::text_input::Edit;

    fn typed(playground: &mut Playground, text: &str) {
        playground.input.apply(Edit::Paste(text.into()));
    }

    #[test]
    fn turns_carry_the_conversation_and_the_adapter() {
        let mut chat = Playground::default();
        assert_eq!(chat.send(), None, "nothing typed");
        chat.use_adapter(AdapterRef::final_of("j1"));
        assert!(chat.editing);
        typed(&mut chat, "hi");
        let Some(CloudRequest::Chat { chat_id, request }) = chat.send() else {
            panic!("a chat request")
        };
        assert_eq!(
            request.model,
            ChatModel::Adapter(AdapterRef::final_of("j1"))
        );
        assert_eq!(request.messages.len(), 1);
        typed(&mut chat, "again");
        assert_eq!(chat.send(), None, "one reply at a time");
        assert!(chat.reply_text(chat_id, "Hel"));
        assert!(chat.reply_text(chat_id, "lo"));
        assert!(!chat.reply_text(chat_id + 1, "stray"));
        assert!(chat.reply_ended(chat_id, None));
        assert_eq!(chat.turns[1].text, "Hello");
        let Some(CloudRequest::Chat { request, .. }) = chat.send() else {
            panic!("a second turn")
        };
        let roles: Vec<ChatRole> = request.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [ChatRole::User, ChatRole::Assistant, ChatRole::User]);
    }

    #[test]
    fn errors_read_as_the_studio_shows_them_and_stay_out_of_the_context() {
        let mut chat = Playground::default();
        typed(&mut chat, "hi");
        let Some(CloudRequest::Chat { chat_id, .. }) = chat.send() else {
            panic!()
        };
        chat.reply_ended(chat_id, Some("{\"error\":\"adapter not ready\"}".into()));
        assert_eq!(
            chat.turns[1].text,
            "[error] {\"error\":\"adapter not ready\"}"
        );
        typed(&mut chat, "retry");
        let Some(CloudRequest::Chat { request, .. }) = chat.send() else {
            panic!()
        };
        assert_eq!(request.messages.len(), 2, "the error is not sent back");
    }

    #[test]
    fn a_reply_stops_mid_stream_and_the_conversation_clears_and_copies() {
        let mut chat = Playground::default();
        typed(&mut chat, "tell me");
        let Some(CloudRequest::Chat { chat_id, .. }) = chat.send() else {
            panic!()
        };
        chat.reply_text(chat_id, "Once upon");
        assert_eq!(chat.stop(), Some(CloudRequest::StopChat { chat_id }));
        assert!(
            !chat.reply_text(chat_id, " a time"),
            "nothing after the stop"
        );
        assert_eq!(chat.turns[1].state, ReplyState::Stopped);
        assert!(
            chat.transcript()
                .contains("you: tell me\n\nmodel: Once upon")
        );
        assert_eq!(chat.clear(), None, "nothing streaming");
        assert!(chat.turns.is_empty());
    }
}
