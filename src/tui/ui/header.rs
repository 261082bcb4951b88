//! One line: project, build status with duration and hash, server URL, trainer and config hash.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::core::engine::BuildStatus;
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::ui::printable;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let sep = || Span::styled(" │ ", theme.dim());
    // The build status matters more than the full project path on a narrow screen.
    let label = if app.project_label.chars().count() + 40 > usize::from(area.width) {
        app.project_label
            .rsplit('/')
            .find(|part| !part.is_empty())
            .unwrap_or(&app.project_label)
    } else {
        &app.project_label
    };
    let mut spans = vec![
        Span::styled(" arkor ", theme.title()),
        Span::raw(printable(label)),
        sep(),
    ];
    match (&app.status, app.last_error.is_some()) {
        (BuildStatus::Building, _) => spans.push(Span::styled("◌ building…", theme.warn())),
        (BuildStatus::Pending, _) => {
            spans.push(Span::styled("○ waiting for first build", theme.dim()))
        }
        (_, true) => spans.push(Span::styled("✗ build failed", theme.error())),
        (_, false) => spans.push(Span::styled("✓ build ok", theme.ok())),
    }
    if let Some(good) = &app.last_good {
        if app.last_error.is_some() {
            spans.push(Span::styled(" · last good", theme.dim()));
        }
        spans.push(Span::styled(
            format!(" {}", format::duration(good.build_duration)),
            theme.dim(),
        ));
        if let Some(hash) = &good.content_hash {
            spans.push(Span::raw(format!(" #{}", format::short(hash, 8))));
        }
    }
    // The Studio URL before the trainer details: it is what a user needs to copy.
    if let Some(url) = &app.options.server_url {
        spans.push(sep());
        spans.push(Span::styled(url.clone(), theme.info()));
    }
    if let Some(good) = &app.last_good {
        if let Some(name) = &good.trainer_name {
            spans.push(sep());
            spans.push(Span::styled(printable(name), theme.title()));
        }
        if let Some(hash) = &good.config_hash {
            spans.push(Span::styled(
                format!(" config {}", format::short(hash, 8)),
                theme.dim(),
            ));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
