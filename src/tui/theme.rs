//! Every style the dashboard uses, in one place, so NO_COLOR is one switch.

use ratatui::style::{Color, Modifier, Style};

use crate::core::events::{ExitStatus, RunState};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub colors: bool,
}

impl Theme {
    pub fn new(colors: bool) -> Self {
        Self { colors }
    }

    fn fg(&self, color: Color) -> Style {
        if self.colors {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn info(&self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn accent(&self) -> Style {
        self.fg(Color::Magenta)
    }

    pub fn dim(&self) -> Style {
        if self.colors {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    /// Lines arkor writes into a run's log itself.
    pub fn system_line(&self) -> Style {
        self.fg(Color::Blue).add_modifier(Modifier::ITALIC)
    }

    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected row: reverse video reads the same with and without colour.
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.colors) {
            (true, true) => Style::default().fg(Color::Cyan),
            (true, false) => Style::default().add_modifier(Modifier::BOLD),
            (false, _) => self.dim(),
        }
    }

    pub fn search_hit(&self) -> Style {
        if self.colors {
            Style::default().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn search_current(&self) -> Style {
        if self.colors {
            Style::default()
                .fg(Color::Black)
                .bg(Color::LightRed)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default()
                .add_modifier(Modifier::REVERSED | Modifier::BOLD | Modifier::UNDERLINED)
        }
    }

    /// Symbol, label and style of a run state (the symbol carries the meaning without colour).
    pub fn run_state(&self, state: &RunState) -> (&'static str, &'static str, Style) {
        match state {
            RunState::Starting => ("◌", "starting", self.info()),
            RunState::Running => ("●", "running", self.ok()),
            RunState::HotSwapped => ("↻", "hot-swapped", self.info().add_modifier(Modifier::BOLD)),
            RunState::EarlyStopping => {
                ("◐", "early-stop", self.warn().add_modifier(Modifier::BOLD))
            }
            RunState::Restarting => (
                "⟳",
                "restarting",
                self.accent().add_modifier(Modifier::BOLD),
            ),
            RunState::Exited {
                status: ExitStatus::Code(0),
            } => ("✓", "exited", self.dim()),
            RunState::Exited {
                status: ExitStatus::Code(_),
            } => ("✗", "failed", self.error()),
            RunState::Exited {
                status: ExitStatus::Signal(_),
            } => ("✗", "killed", self.error()),
        }
    }
}
