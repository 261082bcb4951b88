//! The Studio SPA, served from the assets the project's installed arkor SDK ships
//! (`node_modules/arkor/dist/assets`, next to the package's `bin`), as the reference does:
//! `index.html` gets the token meta tag and the HMR flag injected before `</head>`, unknown
//! extension-less paths fall back to `index.html` (client-side routing), anything else that
//! is missing is a 404. `/favicon.ico` falls back to a small embedded icon (the reference
//! 404s there, which a real browser reports as a console error).

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::guards::hex_value;

const FAVICON: &[u8] = include_bytes!("favicon.ico");

/// Where the Studio assets are looked up.
#[derive(Clone, Debug)]
pub enum AssetsSource {
    /// This exact folder (tests, or a Studio built elsewhere).
    Dir(PathBuf),
    /// The SDK installed in the project, resolved on each request so an `npm install` made
    /// while the server runs is picked up.
    InstalledSdk(PathBuf),
}

impl AssetsSource {
    /// The folder holding `index.html`, if any.
    pub fn resolve(&self) -> Option<PathBuf> {
        match self {
            AssetsSource::Dir(dir) => Some(dir.clone()),
            AssetsSource::InstalledSdk(sdk_dir) => sdk_assets_candidates(sdk_dir)
                .into_iter()
                .find(|dir| dir.join("index.html").is_file()),
        }
    }
}

/// The reference locates its assets as `<dir of dist/bin.mjs>/assets`; read the package's
/// `bin` field to find that folder, with the published layout as a fallback.
fn sdk_assets_candidates(sdk_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let bin = std::fs::read(sdk_dir.join("package.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|pkg| match pkg.get("bin")? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(map) => map.get("arkor")?.as_str().map(str::to_owned),
            _ => None,
        });
    if let Some(bin_dir) = bin
        .as_deref()
        .and_then(|b| sdk_dir.join(b).parent().map(Path::to_path_buf))
    {
        dirs.push(bin_dir.join("assets"));
    }
    dirs.push(sdk_dir.join("dist").join("assets"));
    dirs
}

fn html_attr_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The reference's tags, inserted right before the first `</head>` (or prepended when the
/// document has none). HMR is always on here: the engine always watches.
pub fn inject_studio_meta(html: &str, token: &str) -> String {
    let tags = format!(
        "<meta name=\"arkor-studio-token\" content=\"{}\"><meta name=\"arkor-hmr-enabled\" content=\"true\">",
        html_attr_escape(token)
    );
    match html.find("</head>") {
        Some(idx) => format!("{}{}{}", &html[..idx], tags, &html[idx..]),
        None => format!("{tags}{html}"),
    }
}

fn content_type(ext: &str) -> &'static str {
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Percent-decode a URL path; `None` when it decodes to invalid UTF-8 or holds a NUL.
fn decode_path(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    let s = String::from_utf8(out).ok()?;
    (!s.contains('\0')).then_some(s)
}

/// `rel` under `base`, or `None` if it would leave it (`..`, absolute parts, symlinks out).
fn contained_file(base: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let base = base.canonicalize().ok()?;
    let target = base.join(rel).canonicalize().ok()?;
    (target.starts_with(&base) && target.is_file()).then_some(target)
}

async fn read_asset(assets: &Path, rel: &str, token: &str) -> Option<Response> {
    let path = contained_file(assets, rel)?;
    let bytes = tokio::fs::read(&path).await.ok()?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if ext == "html" {
        let html = inject_studio_meta(&String::from_utf8_lossy(&bytes), token);
        return Some(([(header::CONTENT_TYPE, content_type("html"))], html).into_response());
    }
    Some(
        (
            [(header::CONTENT_TYPE, content_type(&ext))],
            Body::from(bytes),
        )
            .into_response(),
    )
}

fn has_extension(path: &str) -> bool {
    // The reference's `/\.[a-z0-9]+$/i` on the request path.
    path.rsplit_once('.')
        .is_some_and(|(_, ext)| !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Every GET outside `/api`: exact asset, else SPA fallback, else 404.
pub async fn static_asset(State(state): State<AppState>, uri: Uri) -> Response {
    let raw_path = uri.path();
    if raw_path == "/api" || raw_path.starts_with("/api/") {
        return super::json_error(StatusCode::NOT_FOUND, "Not found");
    }
    let Some(path) = decode_path(raw_path) else {
        return not_found();
    };
    let token = state.token.as_ref();
    let assets = state.assets.resolve();
    if let Some(assets) = assets.as_deref() {
        let rel = if path == "/" {
            "index.html"
        } else {
            path.as_str()
        };
        if let Some(found) = read_asset(assets, rel, token).await {
            return found;
        }
    }
    if path == "/favicon.ico" {
        return ([(header::CONTENT_TYPE, content_type("ico"))], FAVICON).into_response();
    }
    if has_extension(&path) {
        return not_found();
    }
    match assets.as_deref() {
        Some(assets) => match read_asset(assets, "index.html", token).await {
            Some(index) => index,
            None => not_found(),
        },
        None => no_studio_assets(&state),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        "Not found",
    )
        .into_response()
}

/// Without the SDK's Studio build there is no UI to serve; say where it was looked for.
fn no_studio_assets(state: &AppState) -> Response {
    let looked = match &state.assets {
        AssetsSource::Dir(dir) => dir.display().to_string(),
        AssetsSource::InstalledSdk(sdk) => sdk.join("dist").join("assets").display().to_string(),
    };
    let body = format!(
        "<!doctype html><html><head><title>Arkor Studio</title></head><body>\
         <h1>Arkor Studio is not installed in this project</h1>\
         <p>The Studio UI ships with the arkor SDK; no <code>index.html</code> was found at \
         <code>{}</code>. Run <code>npm install arkor</code> in the project and reload. \
         The dev endpoints under <code>/api</code> work without it.</p></body></html>",
        html_attr_escape(&looked)
    );
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, content_type("html"))],
        inject_studio_meta(&body, state.token.as_ref()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_escaped_token_and_hmr_flag_before_head_close() {
        let html = "<html><head><title>S</title></head><body></body></html>";
        let out = inject_studio_meta(html, "<>&\"'-1234567890ab");
        assert_eq!(
            out,
            "<html><head><title>S</title><meta name=\"arkor-studio-token\" content=\"&lt;&gt;&amp;&quot;&#39;-1234567890ab\"><meta name=\"arkor-hmr-enabled\" content=\"true\"></head><body></body></html>"
        );
        assert!(
            inject_studio_meta("<p>x</p>", "t")
                .starts_with("<meta name=\"arkor-studio-token\" content=\"t\">")
        );
    }

    #[test]
    fn paths_cannot_escape_the_assets_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "x").unwrap();
        assert!(contained_file(dir.path(), "/index.html").is_some());
        assert!(contained_file(dir.path(), "/../index.html").is_none());
        assert!(contained_file(dir.path(), "/a/../../etc/passwd").is_none());
        assert_eq!(decode_path("/%2e%2e/x"), Some("/../x".to_owned()));
        assert_eq!(decode_path("/a%00b"), None);
        assert!(contained_file(dir.path(), "/../x").is_none());
    }

    #[test]
    fn extension_detection_matches_the_reference_pattern() {
        assert!(has_extension("/assets/main.js"));
        assert!(has_extension("/x.PNG"));
        assert!(!has_extension("/jobs/some-uuid"));
        assert!(!has_extension("/jobs/v1.2-x"));
        assert!(!has_extension("/trailing."));
    }
}
