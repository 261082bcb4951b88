//! The `?` overlay: every key, from the same table the keymap uses.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::keymap::keymaps;
use crate::tui::ui::{fit, wrap};

const KEYS_WIDTH: usize = 14;
/// Below this the description column would be unreadable; the popup cuts it instead.
const MIN_TEXT_WIDTH: usize = 12;

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let width = area.width.min(72);
    // Descriptions wrap under themselves on a narrow screen rather than being cut.
    let inner_width = usize::from(width.saturating_sub(2));
    let text_width = inner_width.saturating_sub(KEYS_WIDTH).max(MIN_TEXT_WIDTH);
    let mut lines: Vec<Line> = wrap(
        "Quit is deliberate: runs early-stop at their next checkpoint first.",
        inner_width,
        inner_width,
        usize::MAX,
    )
    .into_iter()
    .map(|part| Line::from(Span::styled(part, theme.dim())))
    .collect();
    for keymap in keymaps(app.view) {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(keymap.title, theme.title())));
        for binding in keymap.bindings {
            for (i, part) in wrap(binding.help, text_width, text_width, usize::MAX)
                .into_iter()
                .enumerate()
            {
                let keys = if i == 0 { binding.keys } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(fit(keys, KEYS_WIDTH), theme.key()),
                    Span::raw(part),
                ]));
            }
        }
    }
    let height = area
        .height
        .min(u16::try_from(lines.len() + 2).unwrap_or(u16::MAX));
    let popup = crate::tui::popup::centered(area, width, height);
    // On a short screen the list scrolls (↑↓ j k); the title says when more is hidden.
    let visible = usize::from(popup.height.saturating_sub(2));
    let max_scroll = lines.len().saturating_sub(visible);
    app.help_scroll = app.help_scroll.min(max_scroll as u16);
    let scroll = usize::from(app.help_scroll);
    let more = if scroll < max_scroll {
        "↓ more · "
    } else {
        ""
    };
    let block = Block::bordered()
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" keys · {more}q, Esc or ? closes "),
            theme.title(),
        ));
    let lines: Vec<Line> = lines.into_iter().skip(scroll).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use crate::core::engine::{BuildStatus, EngineSnapshot};
    use crate::core::logs::LogStore;
    use crate::tui::app::{App, AppOptions};

    #[test]
    fn a_narrow_help_wraps_descriptions_instead_of_cutting_them() {
        let snapshot = EngineSnapshot {
            status: BuildStatus::Ok,
            ..EngineSnapshot::default()
        };
        let options = AppOptions::default();
        let mut app = App::new(
            "demo",
            LogStore::new(),
            snapshot,
            options,
            SystemTime::UNIX_EPOCH,
        );
        app.help_open = true;
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(40, 40))
            .expect("test backend");
        terminal
            .draw(|f| crate::tui::render(&mut app, f))
            .expect("draw");
        let buffer = terminal.backend().buffer();
        let screen: Vec<String> = (0..40)
            .map(|y| {
                (0..40)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect();
        let text = screen.join("\n");
        assert!(!text.contains('…'), "nothing cut:\n{text}");
        assert!(
            text.contains("│              lost)"),
            "X's description ends:\n{text}"
        );
    }
}
