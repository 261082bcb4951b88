//! Keys and mouse → [`Action`], depending on what has the focus. The binding table below
//! is also what the footer and the `?` overlay print, so they cannot drift apart.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use crate::tui::action::Action;
use crate::tui::popup::Answer;

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
}

/// One line of the help overlay; `footer` is the short label shown in the footer, if any.
pub struct Binding {
    pub keys: &'static str,
    pub help: &'static str,
    pub footer: Option<&'static str>,
}

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
