//! One line: project, build status with duration and hashes, trainer, server URL.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::core::engine::BuildStatus;
use crate::tui::app::App;
use crate::tui::format;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let sep = || Span::styled(" │ ", theme.dim());
    let mut spans = vec![
        Span::styled(" arkor ", theme.title()),
        Span::raw(app.project_label.clone()),
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
        spans.push(Span::styled(
            format!(" {}", format::duration(good.build_duration)),
            theme.dim(),
        ));
        if let Some(hash) = &good.content_hash {
            spans.push(Span::raw(format!(" #{}", format::short(hash, 8))));
        }
        if let Some(name) = &good.trainer_name {
            spans.push(sep());
            spans.push(Span::styled(name.clone(), theme.title()));
        }
        if let Some(hash) = &good.config_hash {
            spans.push(Span::styled(
                format!(" config {}", format::short(hash, 8)),
                theme.dim(),
            ));
        }
    }
    if let Some(url) = &app.options.server_url {
        spans.push(sep());
        spans.push(Span::styled(url.clone(), theme.info()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
