//! Keys and mouse → [`Action`], depending on what has the focus. The binding table below
//! is also what the footer and the `?` overlay print, so they cannot drift apart.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use crate::tui::action::Action;
use crate::tui::popup::Answer;
use crate::tui::views::View;
use crate::tui::views::endpoints::EndpointAction;

/// Which panel arrow keys act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Focus {
    #[default]
    Runs,
    Logs,
    /// The timeline: arrows and PgUp/PgDn scroll back through it.
    Timeline,
}

/// What the keymap needs to know about the App.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyContext {
    pub focus: Focus,
    /// The search box is open and takes text.
    pub search_editing: bool,
    /// A confirmed query exists (Esc clears it).
    pub search_active: bool,
    pub help_open: bool,
    /// A yes/no question is open: it takes the next key press, whatever it is.
    pub confirm_open: bool,
    /// Log lines are being selected for copying.
    pub selecting: bool,
    /// The log pane has the whole screen.
    pub zoomed: bool,
    /// Which view has the screen.
    pub view: View,
    /// The Jobs view shows one job's detail.
    pub job_open: bool,
    /// The Playground's prompt takes every key (but Ctrl-C).
    pub input_focused: bool,
    /// The Endpoints view shows one deployment and its keys.
    pub endpoint_open: bool,
    /// A text field of the Endpoints view takes every key (but Ctrl-C).
    pub endpoint_entry: Option<EndpointEntry>,
    /// A new key's secret is shown (it takes the next key).
    pub secret_open: bool,
}

/// The Endpoints view's text fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointEntry {
    /// The create form (slug typed; target and auth mode chosen with keys).
    Form,
    /// The label of a new API key.
    KeyLabel,
}

/// One line of the help overlay; `footer` is the short label shown in the footer, if any.
pub struct Binding {
    pub keys: &'static str,
    pub help: &'static str,
    pub footer: Option<&'static str>,
}

/// Keys that work in every view: the number keys switch views (as in k9s and lazygit).
pub const VIEW_BINDINGS: &[Binding] = &[
    Binding {
        keys: "1",
        help: "Runs: this project's local runs, build and logs",
        footer: None,
    },
    Binding {
        keys: "2",
        help: "Jobs: the project's cloud jobs (started here, elsewhere or earlier)",
        footer: None,
    },
    Binding {
        keys: "3",
        help: "Playground: chat with the base model or a job's adapter",
        footer: None,
    },
    Binding {
        keys: "4",
        help: "Endpoints: the project's deployments, their URLs and API keys",
        footer: None,
    },
];

/// The Jobs view (`2`): the job list and one job's detail.
pub const JOBS_BINDINGS: &[Binding] = &[
    Binding {
        keys: "↑↓ j k",
        help: "select a job (list) / scroll the event log (detail)",
        footer: None,
    },
    Binding {
        keys: "PgUp PgDn",
        help: "a page up / down",
        footer: None,
    },
    Binding {
        keys: "Home End g G",
        help: "newest job / oldest job (list), oldest / newest event (detail)",
        footer: None,
    },
    Binding {
        keys: "Enter",
        help: "open the job: status, config, checkpoints, loss chart, event log",
        footer: Some("open"),
    },
    Binding {
        keys: "Esc q",
        help: "back from a job to the list (q quits only from the list)",
        footer: Some("back"),
    },
    Binding {
        keys: "r",
        help: "refresh the list now (it refreshes every 5 s while shown)",
        footer: Some("refresh"),
    },
    Binding {
        keys: "c",
        help: "cancel the job on the cloud (asks first)",
        footer: Some("cancel"),
    },
    Binding {
        keys: "p",
        help: "chat with the job's adapter in the Playground (final, else its newest checkpoint)",
        footer: Some("playground"),
    },
    Binding {
        keys: "e",
        help: "serve the job's adapter as an endpoint (view 4's create form)",
        footer: Some("endpoint"),
    },
    Binding {
        keys: "?",
        help: "this help",
        footer: Some("help"),
    },
    Binding {
        keys: "q Ctrl-C",
        help: "quit (as in Runs: 1st early-stops all runs)",
        footer: Some("quit"),
    },
];

/// The Playground (`3`).
pub const PLAYGROUND_BINDINGS: &[Binding] = &[
    Binding {
        keys: "i Enter",
        help: "type a prompt (Enter sends it, Esc leaves the prompt)",
        footer: Some("prompt"),
    },
    Binding {
        keys: "x",
        help: "stop the reply being streamed (the text so far is kept)",
        footer: Some("stop"),
    },
    Binding {
        keys: "c",
        help: "clear the conversation",
        footer: Some("clear"),
    },
    Binding {
        keys: "y",
        help: "copy the conversation as plain text (OSC 52)",
        footer: Some("copy"),
    },
    Binding {
        keys: "b",
        help: "chat with the base model (p in Jobs picks a job's adapter)",
        footer: Some("base"),
    },
    Binding {
        keys: "↑↓ PgUp PgDn",
        help: "scroll the conversation (End: the newest)",
        footer: None,
    },
    Binding {
        keys: "?",
        help: "this help",
        footer: Some("help"),
    },
    Binding {
        keys: "q Ctrl-C",
        help: "quit (as in Runs); in the prompt only Ctrl-C",
        footer: Some("quit"),
    },
];

/// The Playground's prompt, while it has the keys.
pub const PROMPT_BINDINGS: &[Binding] = &[
    Binding {
        keys: "Enter",
        help: "send the prompt (one reply at a time)",
        footer: Some("send"),
    },
    Binding {
        keys: "Esc",
        help: "leave the prompt (then x stops a reply, c clears, y copies)",
        footer: Some("leave prompt"),
    },
    Binding {
        keys: "← → Home End",
        help: "move in the prompt (Ctrl-A, Ctrl-E too)",
        footer: None,
    },
    Binding {
        keys: "Ctrl-U Ctrl-W",
        help: "delete to the start / the word before the cursor",
        footer: None,
    },
    Binding {
        keys: "Ctrl-C",
        help: "quit (every other key is text, numbers and q too)",
        footer: Some("quit"),
    },
];

/// The Endpoints view (`4`): the deployments and one deployment's keys.
pub const ENDPOINTS_BINDINGS: &[Binding] = &[
    Binding {
        keys: "↑↓ j k",
        help: "select an endpoint (list) / a key (endpoint)",
        footer: None,
    },
    Binding {
        keys: "Enter",
        help: "open the endpoint: target, auth mode, URL and its API keys",
        footer: Some("open"),
    },
    Binding {
        keys: "Esc q",
        help: "back from an endpoint to the list (q quits only from the list)",
        footer: Some("back"),
    },
    Binding {
        keys: "a",
        help: "new API key of the open endpoint (its secret is shown once)",
        footer: Some("add key"),
    },
    Binding {
        keys: "x",
        help: "revoke the selected key (asks first)",
        footer: Some("revoke"),
    },
    Binding {
        keys: "n",
        help: "new endpoint: a finished job's adapter or a base model (e in Jobs: that job's)",
        footer: Some("new"),
    },
    Binding {
        keys: "e",
        help: "enable / disable the endpoint (disabling asks first)",
        footer: Some("enable/disable"),
    },
    Binding {
        keys: "d",
        help: "delete the endpoint (asks first)",
        footer: Some("delete"),
    },
    Binding {
        keys: "y",
        help: "copy the endpoint's URL (OSC 52)",
        footer: Some("copy URL"),
    },
    Binding {
        keys: "r",
        help: "refresh now (the list refreshes every 5 s while shown)",
        footer: Some("refresh"),
    },
    Binding {
        keys: "?",
        help: "this help",
        footer: Some("help"),
    },
    Binding {
        keys: "q Ctrl-C",
        help: "quit (as in Runs)",
        footer: Some("quit"),
    },
];

/// The create form and the key label, while they have the keys.
pub const ENDPOINT_ENTRY_BINDINGS: &[Binding] = &[
    Binding {
        keys: "Enter",
        help: "create it (checked here first, as the server checks it)",
        footer: Some("create"),
    },
    Binding {
        keys: "Esc",
        help: "cancel",
        footer: Some("cancel"),
    },
    Binding {
        keys: "↑↓",
        help: "form: the previous / next target",
        footer: Some("target"),
    },
    Binding {
        keys: "Tab",
        help: "form: auth mode fixed_api_key ↔ none",
        footer: Some("auth"),
    },
    Binding {
        keys: "Ctrl-C",
        help: "quit (every other key is text)",
        footer: Some("quit"),
    },
];

/// A new key's secret, while it is shown.
pub const SECRET_BINDINGS: &[Binding] = &[
    Binding {
        keys: "y",
        help: "copy the secret (OSC 52)",
        footer: Some("copy"),
    },
    Binding {
        keys: "Esc Enter",
        help: "close it: the secret is never shown again",
        footer: Some("close"),
    },
];

/// A view's keys, as the help overlay lists them (the current view's first).
pub struct Keymap {
    pub title: &'static str,
    pub bindings: &'static [Binding],
}

/// Every keymap the help overlay shows, the current view's first.
pub fn keymaps(view: View) -> Vec<Keymap> {
    let keymap = |title, bindings| Keymap { title, bindings };
    let views = keymap(
        "views (anywhere but in the Playground's prompt)",
        VIEW_BINDINGS,
    );
    let runs = keymap("1 runs", BINDINGS);
    let jobs = keymap("2 jobs", JOBS_BINDINGS);
    let playground = keymap("3 playground", PLAYGROUND_BINDINGS);
    let prompt = keymap("3 playground: in the prompt", PROMPT_BINDINGS);
    let endpoints = keymap("4 endpoints", ENDPOINTS_BINDINGS);
    let entry = keymap(
        "4 endpoints: the create form and a key's label",
        ENDPOINT_ENTRY_BINDINGS,
    );
    let secret = keymap("4 endpoints: a new key's secret", SECRET_BINDINGS);
    match view {
        View::Runs => vec![
            runs, jobs, playground, prompt, endpoints, entry, secret, views,
        ],
        View::Jobs => vec![
            jobs, playground, prompt, endpoints, entry, secret, runs, views,
        ],
        View::Playground => vec![
            playground, prompt, jobs, endpoints, entry, secret, runs, views,
        ],
        View::Endpoints => vec![
            endpoints, entry, secret, jobs, playground, prompt, runs, views,
        ],
    }
}

/// The keys the footer offers now: the shown view's, without the one of Enter (open) and
/// Esc (back) that does nothing where the Jobs view is.
pub fn footer_bindings(ctx: KeyContext) -> Vec<&'static Binding> {
    match ctx.view {
        View::Runs => BINDINGS.iter().collect(),
        View::Jobs => JOBS_BINDINGS
            .iter()
            .filter(|b| match b.keys {
                "Enter" => !ctx.job_open,
                "Esc q" => ctx.job_open,
                _ => true,
            })
            .collect(),
        View::Playground if ctx.input_focused => PROMPT_BINDINGS.iter().collect(),
        View::Playground => PLAYGROUND_BINDINGS.iter().collect(),
        View::Endpoints if ctx.secret_open => SECRET_BINDINGS.iter().collect(),
        View::Endpoints => match ctx.endpoint_entry {
            Some(entry) => ENDPOINT_ENTRY_BINDINGS
                .iter()
                .filter(|b| entry == EndpointEntry::Form || !matches!(b.keys, "↑↓" | "Tab"))
                .collect(),
            None => ENDPOINTS_BINDINGS
                .iter()
                .filter(|b| match b.keys {
                    "Enter" => !ctx.endpoint_open,
                    "Esc q" | "a" | "x" => ctx.endpoint_open,
                    _ => true,
                })
                .collect(),
        },
    }
}

/// The Runs view (`1`).
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: "r",
        help: "rebuild now",
        footer: Some("rebuild"),
    },
    Binding {
        keys: "s",
        help: "start a new run (asks while one is live)",
        footer: Some("start"),
    },
    Binding {
        keys: "x",
        help: "stop run at its next checkpoint (early stop)",
        footer: Some("stop"),
    },
    Binding {
        keys: "X",
        help: "force-stop now (asks; SIGKILL, checkpoint lost)",
        footer: Some("kill"),
    },
    Binding {
        keys: "R",
        help: "restart run; a finished run starts again",
        footer: Some("restart"),
    },
    Binding {
        keys: "o",
        help: "config change: restart / ask / hold (≠)",
        footer: None,
    },
    Binding {
        keys: "↑↓ j k",
        help: "select run (runs) / scroll one line (logs)",
        footer: None,
    },
    Binding {
        keys: "Tab Enter",
        help: "focus the log pane, Tab again the timeline (Esc: runs)",
        footer: Some("logs"),
    },
    Binding {
        keys: "← → h l",
        help: "scroll truncated log lines sideways",
        footer: None,
    },
    Binding {
        keys: "PgUp PgDn",
        help: "scroll the log pane a page",
        footer: None,
    },
    Binding {
        keys: "Home End g G",
        help: "oldest line / newest line (follow)",
        footer: None,
    },
    Binding {
        keys: "z",
        help: "zoom the log pane to the full screen (z, Esc: back)",
        footer: None,
    },
    Binding {
        keys: "v, y",
        help: "select log lines (↑↓), y copies them (OSC 52)",
        footer: None,
    },
    Binding {
        keys: "t",
        help: "toggle the time of each log line",
        footer: None,
    },
    Binding {
        keys: "f",
        help: "toggle follow mode",
        footer: Some("follow"),
    },
    Binding {
        keys: "w",
        help: "toggle wrapped / truncated lines",
        footer: Some("wrap"),
    },
    Binding {
        keys: "/",
        help: "search the log (Enter confirm, Esc close)",
        footer: Some("search"),
    },
    Binding {
        keys: "n N",
        help: "next / previous search hit",
        footer: None,
    },
    Binding {
        keys: "c",
        help: "clear the selected run's log",
        footer: Some("clear"),
    },
    Binding {
        keys: "mouse",
        help: "click selects a run; wheel scrolls the log",
        footer: None,
    },
    Binding {
        keys: "Shift+drag",
        help: "select text (plain clicks go to the dashboard)",
        footer: None,
    },
    Binding {
        keys: "Ctrl-Z",
        help: "suspend (resume with fg)",
        footer: None,
    },
    Binding {
        keys: "?",
        help: "this help",
        footer: Some("help"),
    },
    Binding {
        keys: "q Ctrl-C",
        help: "quit: 1st early-stops all runs, 2nd force-stops",
        footer: Some("quit"),
    },
];

/// Lines the mouse wheel scrolls per notch.
pub const WHEEL_LINES: u16 = 3;

pub fn map_key(key: KeyEvent, ctx: KeyContext) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if ctx.confirm_open {
        return Answer::from_key(&key).map(Action::Answer);
    }
    if ctx.input_focused {
        return map_prompt_key(key);
    }
    if let Some(entry) = ctx.endpoint_entry {
        return map_entry_key(key, entry);
    }
    if ctx.secret_open {
        return map_secret_key(key);
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl {
        return match key.code {
            KeyCode::Char('c') => Some(Action::Quit),
            KeyCode::Char('z') => Some(Action::Suspend),
            KeyCode::Char('l') => Some(Action::Redraw),
            KeyCode::Char('u') if !ctx.search_editing => Some(Action::PageUp),
            KeyCode::Char('d') if !ctx.search_editing => Some(Action::PageDown),
            _ => None,
        };
    }
    if ctx.search_editing {
        return match key.code {
            KeyCode::Enter => Some(Action::SearchSubmit),
            KeyCode::Esc => Some(Action::SearchCancel),
            KeyCode::Backspace => Some(Action::SearchBackspace),
            KeyCode::Char(c) => Some(Action::SearchInput(c)),
            _ => None,
        };
    }
    if ctx.help_open {
        return match key.code {
            // Closing keys close the overlay; only the main view's q quits.
            KeyCode::Esc | KeyCode::Char('q' | '?') | KeyCode::Enter => Some(Action::ToggleHelp),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::ScrollUp(1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::ScrollDown(1)),
            _ => None,
        };
    }
    if let KeyCode::Char(c) = key.code
        && let Some(view) = View::from_key(c)
    {
        return Some(Action::ShowView(view));
    }
    match ctx.view {
        View::Jobs => return map_jobs_key(key, ctx),
        View::Playground => return map_playground_key(key),
        View::Endpoints => return map_endpoints_key(key, ctx),
        View::Runs => {}
    }
    let in_logs = ctx.focus == Focus::Logs;
    let scrolls = ctx.focus != Focus::Runs;
    Some(match key.code {
        KeyCode::Char('q') if !ctx.selecting && !ctx.zoomed => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('r') => Action::Rebuild,
        KeyCode::Char('s') => Action::StartRun,
        KeyCode::Char('x') => Action::StopRun { force: false },
        KeyCode::Char('X') => Action::StopRun { force: true },
        KeyCode::Char('R') => Action::RestartRun,
        KeyCode::Char('o') => Action::CycleConfigPolicy,
        KeyCode::Char('z') => Action::ToggleZoom,
        KeyCode::Char('t') => Action::ToggleTimestamps,
        KeyCode::Char('c') => Action::ClearLogs,
        KeyCode::Char('f') => Action::ToggleFollow,
        KeyCode::Char('w') => Action::ToggleWrap,
        KeyCode::Char('/') => Action::SearchOpen,
        KeyCode::Char('n') => Action::SearchNext,
        KeyCode::Char('N') => Action::SearchPrev,
        KeyCode::Tab | KeyCode::BackTab => Action::ToggleFocus,
        KeyCode::Enter if !in_logs => Action::FocusLogs,
        // Selecting and zooming are modes: q and Esc leave them; only the main view's q quits.
        KeyCode::Esc | KeyCode::Char('q') if ctx.selecting => Action::SelectLines,
        KeyCode::Esc | KeyCode::Char('q') if ctx.zoomed => Action::ToggleZoom,
        KeyCode::Char('v') => Action::SelectLines,
        KeyCode::Char('y') => Action::CopySelection,
        KeyCode::Esc if ctx.search_active => Action::SearchClear,
        KeyCode::Esc if scrolls => Action::FocusRuns,
        KeyCode::Up | KeyCode::Char('k') if scrolls => Action::ScrollUp(1),
        KeyCode::Down | KeyCode::Char('j') if scrolls => Action::ScrollDown(1),
        KeyCode::Up | KeyCode::Char('k') => Action::SelectPrev,
        KeyCode::Down | KeyCode::Char('j') => Action::SelectNext,
        KeyCode::Left | KeyCode::Char('h') => Action::ScrollLeft,
        KeyCode::Right | KeyCode::Char('l') => Action::ScrollRight,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::ScrollTop,
        KeyCode::End | KeyCode::Char('G') => Action::ScrollBottom,
        _ => return None,
    })
}

fn map_jobs_key(key: KeyEvent, ctx: KeyContext) -> Option<Action> {
    Some(match key.code {
        KeyCode::Esc | KeyCode::Char('q') if ctx.job_open => Action::CloseJob,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('r') => Action::RefreshJobs,
        KeyCode::Char('c') => Action::CancelJob,
        KeyCode::Char('p') => Action::OpenPlayground,
        KeyCode::Char('e') => Action::Endpoint(EndpointAction::DeployJob),
        KeyCode::Enter if !ctx.job_open => Action::OpenJob,
        code => return map_scroll_key(code),
    })
}

fn map_playground_key(key: KeyEvent) -> Option<Action> {
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('i') | KeyCode::Enter => Action::FocusInput,
        KeyCode::Char('x') => Action::StopReply,
        KeyCode::Char('c') => Action::ClearChat,
        KeyCode::Char('y') => Action::CopyChat,
        KeyCode::Char('b') => Action::UseBaseModel,
        code => return map_scroll_key(code),
    })
}

fn map_endpoints_key(key: KeyEvent, ctx: KeyContext) -> Option<Action> {
    let endpoint = |action| Some(Action::Endpoint(action));
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') if ctx.endpoint_open => endpoint(EndpointAction::Close),
        KeyCode::Char('q') => Some(Action::Quit),
        KeyCode::Char('?') => Some(Action::ToggleHelp),
        KeyCode::Char('r') => endpoint(EndpointAction::Refresh),
        KeyCode::Enter if !ctx.endpoint_open => endpoint(EndpointAction::Open),
        KeyCode::Char('n') => endpoint(EndpointAction::New),
        KeyCode::Char('e') => endpoint(EndpointAction::ToggleEnabled),
        KeyCode::Char('d') => endpoint(EndpointAction::Delete),
        KeyCode::Char('y') => endpoint(EndpointAction::CopyUrl),
        KeyCode::Char('a') if ctx.endpoint_open => endpoint(EndpointAction::NewKey),
        KeyCode::Char('x') if ctx.endpoint_open => endpoint(EndpointAction::RevokeKey),
        code => map_scroll_key(code),
    }
}

/// The create form or a key's label has the keys: text goes into it; Enter sends, Esc
/// cancels; in the form ↑↓ choose the target and Tab the auth mode.
fn map_entry_key(key: KeyEvent, entry: EndpointEntry) -> Option<Action> {
    let form = entry == EndpointEntry::Form;
    let endpoint = |action| Some(Action::Endpoint(action));
    match key.code {
        KeyCode::Up if form => endpoint(EndpointAction::PrevTarget),
        KeyCode::Down if form => endpoint(EndpointAction::NextTarget),
        KeyCode::Tab | KeyCode::BackTab if form => endpoint(EndpointAction::ToggleAuth),
        _ => match map_prompt_key(key)? {
            Action::SendPrompt => endpoint(EndpointAction::Submit),
            Action::LeaveInput => endpoint(EndpointAction::Close),
            action => Some(action),
        },
    }
}

/// A new key's secret is shown: `y` copies it, any other key closes it (Ctrl-C still quits).
fn map_secret_key(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        KeyCode::Char('y') => Action::Endpoint(EndpointAction::CopySecret),
        KeyCode::Modifier(_) => return None,
        _ => Action::Endpoint(EndpointAction::CloseSecret),
    })
}

/// The scrolling keys the Jobs list, a job's detail and the Playground share.
fn map_scroll_key(code: KeyCode) -> Option<Action> {
    Some(match code {
        KeyCode::Up | KeyCode::Char('k') => Action::ScrollUp(1),
        KeyCode::Down | KeyCode::Char('j') => Action::ScrollDown(1),
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::ScrollTop,
        KeyCode::End | KeyCode::Char('G') => Action::ScrollBottom,
        _ => return None,
    })
}

/// The Playground's prompt has the keys: text goes into it; only Ctrl-C still quits.
fn map_prompt_key(key: KeyEvent) -> Option<Action> {
    use crate::tui::views::text_input::Edit;
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let edit = match key.code {
        KeyCode::Char('c') if ctrl => return Some(Action::Quit),
        KeyCode::Char('z') if ctrl => return Some(Action::Suspend),
        KeyCode::Char('l') if ctrl => return Some(Action::Redraw),
        KeyCode::Char('u') if ctrl => Edit::ClearToStart,
        KeyCode::Char('w') if ctrl => Edit::DeleteWord,
        KeyCode::Char('a') if ctrl => Edit::Home,
        KeyCode::Char('e') if ctrl => Edit::End,
        _ if ctrl => return None,
        KeyCode::Enter => return Some(Action::SendPrompt),
        KeyCode::Esc => return Some(Action::LeaveInput),
        KeyCode::Char(c) => Edit::Insert(c),
        KeyCode::Backspace => Edit::Backspace,
        KeyCode::Delete => Edit::Delete,
        KeyCode::Left => Edit::Left,
        KeyCode::Right => Edit::Right,
        KeyCode::Home => Edit::Home,
        KeyCode::End => Edit::End,
        _ => return None,
    };
    Some(Action::Edit(edit))
}

/// Pasted text (bracketed paste): into the text field that has the keys, else nothing (a
/// paste is never taken for keys).
pub fn map_paste(text: String, ctx: KeyContext) -> Option<Action> {
    let typing = ctx.input_focused || ctx.endpoint_entry.is_some();
    (typing && !ctx.confirm_open).then_some(Action::Edit(
        crate::tui::views::text_input::Edit::Paste(text),
    ))
}

pub fn map_mouse(mouse: MouseEvent) -> Option<Action> {
    match mouse.kind {
        MouseEventKind::ScrollUp => Some(Action::ScrollUp(WHEEL_LINES)),
        MouseEventKind::ScrollDown => Some(Action::ScrollDown(WHEEL_LINES)),
        MouseEventKind::Down(crossterm::event::MouseButton::Left) => Some(Action::Click {
            column: mouse.column,
            row: mouse.row,
        }),
        _ => None,
    }
}
