//! One line: project, build status with duration and hash, server URL, trainer and config hash.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::core::engine::BuildStatus;
use crate::core::registry::ConfigChangePolicy;
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::ui::{Part, fit_parts, printable};

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
    let mut parts = vec![Part {
        spans: vec![
            Span::styled(" arkor ", theme.title()),
            Span::raw(printable(label)),
            sep(),
        ],
        rank: 0,
    }];
    let status = match (&app.status, app.last_error.is_some()) {
        (BuildStatus::Building, _) => Span::styled("◌ building…", theme.warn()),
        (BuildStatus::Pending, _) => Span::styled("○ waiting for first build", theme.dim()),
        (_, true) => Span::styled("✗ build failed", theme.error()),
        (_, false) => Span::styled("✓ build ok", theme.ok()),
    };
    parts.push(Part {
        spans: vec![status],
        rank: 0,
    });
    if let Some(good) = &app.last_good {
        let mut spans = Vec::new();
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
        parts.push(Part { spans, rank: 4 });
    }
    // A policy other than the default changes what a save does: say so while it holds.
    if app.on_config_change != ConfigChangePolicy::Restart {
        parts.push(Part {
            spans: vec![
                sep(),
                Span::styled(
                    format!("config changes: {} (o)", app.on_config_change),
                    theme.warn(),
                ),
            ],
            rank: 1,
        });
    }
    // The Studio URL before the trainer details: it is what a user needs to copy.
    if let Some(url) = &app.options.server_url {
        parts.push(Part {
            spans: vec![sep(), Span::styled(url.clone(), theme.info())],
            rank: 1,
        });
    }
    if let Some(good) = &app.last_good {
        if let Some(name) = &good.trainer_name {
            parts.push(Part {
                spans: vec![sep(), Span::styled(printable(name), theme.title())],
                rank: 3,
            });
        }
        if let Some(hash) = &good.config_hash {
            parts.push(Part {
                spans: vec![Span::styled(
                    format!(" config {}", format::short(hash, 8)),
                    theme.dim(),
                )],
                rank: 2,
            });
        }
    }
    let spans = fit_parts(parts, usize::from(area.width));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
