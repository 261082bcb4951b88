//! The Endpoints view (`4`): the project's deployments in a table (slug, what it serves, auth
//! mode, state, URL); an open deployment's fields and API keys; the create form, a key's label
//! and a new key's secret in boxes over the view.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use crate::core::cloud::endpoints::{AuthMode, Deployment, DeploymentKey};
use crate::core::cloud::job_events::timestamp::parse_rfc3339;
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::popup::centered;
use crate::tui::theme::Theme;
use crate::tui::ui::poll_status::{ListWords, empty_text, status_line};
use crate::tui::ui::{animate_within, fit, printable, shown_rows, wrap};
use crate::tui::views::endpoints::{CreateForm, EndpointDetail, target_label};
use crate::tui::views::text_input::TextInput;

const ENDPOINT_WORDS: ListWords = ListWords {
    noun: ("endpoint", "endpoints"),
    fetching: "loading the project's endpoints…",
    loading: "Loading the project's endpoints from the cloud…",
    empty: (
        "No endpoints in this project yet.",
        "n creates one serving a finished job's adapter (or a base model); e in Jobs (2) serves that job's.",
    ),
    no_state: (
        "No .arkor/state.json in this project yet: it has no endpoints.",
        "n creates one (an anonymous identity gets its cloud project first), or start a run (1, then s).",
    ),
};

/// Widest the boxes over the view grow.
const BOX_WIDTH: u16 = 72;

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    if let Some(next) = app.endpoints.next_refresh(app.now) {
        animate_within(app, next);
    }
    let [status_area, body_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let view = &app.endpoints;
    let status = status_line(
        app,
        &view.poll,
        view.deployments.len(),
        &ENDPOINT_WORDS,
        usize::from(area.width),
    );
    frame.render_widget(Paragraph::new(status), status_area);
    let open = view
        .detail
        .as_ref()
        .and_then(|detail| Some((detail, app.endpoints.focused()?)));
    match open {
        Some((detail, deployment)) => render_detail(app, deployment, detail, frame, body_area),
        None => render_list(app, frame, body_area),
    }
    if let Some(form) = &app.endpoints.form {
        render_form(app.theme, form, frame, area);
    }
    if let Some(key) = &app.endpoints.secret {
        let lines = vec![
            Line::from(Span::styled(
                " Copy it now: it is never shown again.",
                app.theme.warn(),
            )),
            Line::default(),
            Line::from(Span::styled(
                format!(" {}", printable(&key.plaintext)),
                app.theme.title(),
            )),
            Line::default(),
            Line::from(vec![
                Span::styled(" y", app.theme.key()),
                Span::styled(" copies · any other key closes", app.theme.dim()),
            ]),
        ];
        let title = format!(" key {} created ", printable(&key.label));
        let width = (key.plaintext.chars().count() + 4).max(44);
        draw_box(app.theme, &title, lines, width, frame, area);
    }
}

fn render_list(app: &mut App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(true))
        .title(Span::styled(" endpoints ", theme.title()));
    let view = &app.endpoints;
    if view.deployments.is_empty() {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new(empty_text(theme, &view.poll, &ENDPOINT_WORDS))
                .wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    let fit = usize::from(area.height.saturating_sub(2));
    let shown = shown_rows(view.offset, view.selected, fit, view.deployments.len());
    let rows: Vec<Row> = view.deployments[shown.clone()]
        .iter()
        .map(|d| deployment_row(d, theme))
        .collect();
    let header = Row::new(["slug", "serves", "auth", "state", "URL"]).style(theme.dim());
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Fill(2),
            Constraint::Length(13),
            Constraint::Length(8),
            Constraint::Fill(3),
        ],
    )
    .header(header)
    .block(block)
    .row_highlight_style(theme.selected())
    .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(view.selected - shown.start));
    frame.render_stateful_widget(table, area, &mut state);
    app.endpoints.offset = shown.start;
}

fn deployment_row(deployment: &Deployment, theme: Theme) -> Row<'static> {
    Row::new([
        Cell::from(printable(&deployment.slug)),
        Cell::from(printable(&target_label(&deployment.target))),
        Cell::from(deployment.auth_mode.as_str()),
        enabled_cell(deployment.enabled, theme),
        Cell::from(printable(&deployment.url())),
    ])
}

fn enabled_cell(enabled: bool, theme: Theme) -> Cell<'static> {
    if enabled {
        Cell::from(Span::styled("enabled", theme.ok()))
    } else {
        Cell::from(Span::styled("disabled", theme.warn()))
    }
}

fn render_detail(
    app: &App,
    deployment: &Deployment,
    detail: &EndpointDetail,
    frame: &mut Frame,
    area: Rect,
) {
    let theme = app.theme;
    let label_rows = if detail.label.is_some() {
        3 + u16::from(detail.label_error.is_some())
    } else {
        0
    };
    let [fields_area, keys_area, label_area] = Layout::vertical([
        Constraint::Length(7),
        Constraint::Fill(1),
        Constraint::Length(label_rows),
    ])
    .areas(area);
    let field = |name: &str, value: Span<'static>| {
        Line::from(vec![
            Span::styled(format!(" {name:<8}"), theme.dim()),
            value,
        ])
    };
    let auth = match deployment.auth_mode {
        AuthMode::FixedApiKey => "fixed_api_key: calls need one of its keys",
        AuthMode::None => "none: anyone with the URL may call it",
    };
    let state = if deployment.enabled {
        Span::styled("enabled", theme.ok())
    } else {
        Span::styled("disabled: calls are refused (e enables it)", theme.warn())
    };
    let mut lines = vec![
        field(
            "URL",
            Span::styled(printable(&deployment.url()), theme.title()),
        ),
        field(
            "serves",
            Span::raw(printable(&target_label(&deployment.target))),
        ),
        field("auth", Span::raw(auth)),
        field("state", state),
        field("created", Span::raw(when(&deployment.created_at, app))),
    ];
    if let Some(domain) = &deployment.custom_domain {
        lines.push(field("domain", Span::raw(printable(domain))));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" endpoint {} · Esc back ", printable(&deployment.slug)),
            theme.title(),
        ));
    let inner = block.inner(fields_area);
    frame.render_widget(block, fields_area);
    frame.render_widget(Paragraph::new(lines), inner);
    render_keys(app, detail, frame, keys_area);
    if let Some(input) = &detail.label {
        render_label(
            theme,
            input,
            detail.label_error.as_deref(),
            frame,
            label_area,
        );
    }
}

fn render_keys(app: &App, detail: &EndpointDetail, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(true))
        .title(Span::styled(
            " API keys · a adds · x revokes ",
            theme.title(),
        ));
    if detail.keys.is_empty() {
        let text = match (&detail.keys_problem, detail.keys_loaded) {
            (Some(problem), _) => vec![
                Line::from(Span::styled(format!(" {}", problem.what()), theme.warn())),
                Line::from(format!(" {}", problem.advice())),
            ],
            (None, false) => vec![Line::from(Span::styled(" loading its keys…", theme.dim()))],
            (None, true) => vec![Line::from(Span::styled(
                " No keys yet: a creates one (its secret is shown once).",
                theme.dim(),
            ))],
        };
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
        return;
    }
    let rows: Vec<Row> = detail.keys.iter().map(|key| key_row(key, app)).collect();
    let header = Row::new(["label", "prefix", "state", "created", "last used"]).style(theme.dim());
    let table = Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(16),
            Constraint::Length(16),
        ],
    )
    .header(header)
    .block(block)
    .row_highlight_style(theme.selected())
    .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(detail.selected_key));
    frame.render_stateful_widget(table, area, &mut state);
}

fn key_row(key: &DeploymentKey, app: &App) -> Row<'static> {
    let state = if key.enabled {
        Span::styled("active", app.theme.ok())
    } else {
        Span::styled("revoked", app.theme.dim())
    };
    let last_used = key
        .last_used_at
        .as_deref()
        .map(|t| when(t, app))
        .unwrap_or_else(|| "never".into());
    Row::new([
        Cell::from(printable(&key.label)),
        Cell::from(format!("{}…", printable(&key.prefix))),
        Cell::from(state),
        Cell::from(when(&key.created_at, app)),
        Cell::from(last_used),
    ])
}

/// An RFC 3339 time of the cloud's, in the dashboard's time zone (`—` when unreadable).
fn when(text: &str, app: &App) -> String {
    parse_rfc3339(text)
        .map(|t| format::date_time(t, app.options.utc_offset_secs))
        .unwrap_or_else(|| "—".into())
}

fn render_label(
    theme: Theme,
    input: &TextInput,
    error: Option<&str>,
    frame: &mut Frame,
    area: Rect,
) {
    let [field_area, error_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Fill(1)]).areas(area);
    let block = Block::bordered()
        .border_style(theme.border(true))
        .title(Span::styled(
            " new key label (1-80 characters) · Enter creates · Esc cancels ",
            theme.title(),
        ));
    let field = block.inner(field_area);
    frame.render_widget(block, field_area);
    draw_input(input, frame, field);
    if let Some(error) = error {
        frame.render_widget(
            Paragraph::new(Span::styled(
                fit(error, usize::from(area.width)),
                theme.error(),
            )),
            error_area,
        );
    }
}

/// A text field's visible part, with the cursor.
fn draw_input(input: &TextInput, frame: &mut Frame, field: Rect) {
    if field.width == 0 || field.height == 0 {
        return;
    }
    let (shown, cursor) = input.window(usize::from(field.width));
    frame.render_widget(Paragraph::new(printable(&shown)), field);
    let x = field.x
        + u16::try_from(cursor)
            .unwrap_or(u16::MAX)
            .min(field.width - 1);
    frame.set_cursor_position(Position::new(x, field.y));
}

fn render_form(theme: Theme, form: &CreateForm, frame: &mut Frame, area: Rect) {
    let inner_width = usize::from(BOX_WIDTH.min(area.width).saturating_sub(4)).max(1);
    let row = |name: &str, value: Span<'static>, hint: &str| {
        Line::from(vec![
            Span::styled(format!(" {name:<7}"), theme.dim()),
            value,
            Span::styled(format!("  {hint}"), theme.dim()),
        ])
    };
    let mut lines = vec![
        row(
            "serves",
            Span::styled(printable(&target_label(&form.target)), theme.title()),
            "↑↓",
        ),
        row("auth", Span::raw(form.auth_mode.as_str()), "Tab"),
        Line::from(Span::styled(" slug", theme.dim())),
        // The slug's own row; its text and cursor are drawn after the box.
        Line::default(),
        Line::from(Span::styled(
            " URL: https://<slug>.arkor.app/v1/chat/completions",
            theme.dim(),
        )),
    ];
    if let Some(error) = &form.error {
        lines.push(Line::default());
        for part in wrap(error, inner_width, inner_width, 4) {
            lines.push(Line::from(Span::styled(format!(" {part}"), theme.error())));
        }
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled(" Enter", theme.key()),
        Span::styled(" creates · ", theme.dim()),
        Span::styled("Esc", theme.key()),
        Span::styled(" cancels", theme.dim()),
    ]));
    let inner = draw_box(
        theme,
        " new endpoint ",
        lines,
        usize::from(BOX_WIDTH),
        frame,
        area,
    );
    let slug_row = Rect {
        x: inner.x + 1,
        y: inner.y + 3,
        width: inner.width.saturating_sub(2),
        height: 1,
    };
    if slug_row.y < inner.y + inner.height {
        draw_input(&form.slug, frame, slug_row);
    }
}

/// `lines` in a bordered box `width` wide (at most the area's), centred over `area`; returns
/// the box's inside.
fn draw_box(
    theme: Theme,
    title: &str,
    lines: Vec<Line<'static>>,
    width: usize,
    frame: &mut Frame,
    area: Rect,
) -> Rect {
    let width = u16::try_from(width).unwrap_or(u16::MAX).min(area.width);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let cell = centered(area, width, height);
    let block = Block::bordered()
        .border_style(theme.border(true))
        .title(Span::styled(title.to_owned(), theme.title()));
    let inner = block.inner(cell);
    frame.render_widget(Clear, cell);
    frame.render_widget(block, cell);
    frame.render_widget(Paragraph::new(lines), inner);
    inner
}
