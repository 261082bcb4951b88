//! The two request guards, as the reference applies them (docs/protocol.md §6.2, §6.3):
//!
//! 1. Host allow-list on every route (DNS-rebinding defence): `127.0.0.1`, `localhost` or
//!    `[::1]`, optional `:port`. Anything else → 403 (JSON under `/api/`, text elsewhere).
//!    Two Host headers, or an absolute-form target naming another host → 400.
//! 2. Studio token on every `/api` route, from `X-Arkor-Studio-Token`; the `?studioToken=`
//!    query is honoured only for GET on the event-stream routes (EventSource cannot send
//!    headers). Constant-time comparison.
//!
//! Headers are parsed as raw bytes: a malformed value is a rejection, never a panic.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::token::tokens_match;

pub const TOKEN_HEADER: &str = "x-arkor-studio-token";
pub const TOKEN_QUERY_PARAM: &str = "studioToken";

/// The reference's `^(?:127\.0\.0\.1|localhost)(?::\d+)?$`, plus `[::1]`.
pub fn is_loopback_host(host: &[u8]) -> bool {
    let (name, port): (&[u8], &[u8]) = if host.starts_with(b"[") {
        match host.iter().position(|&b| b == b']') {
            Some(end) => (&host[..=end], &host[end + 1..]),
            None => return false,
        }
    } else {
        match host.iter().position(|&b| b == b':') {
            Some(colon) => (&host[..colon], &host[colon..]),
            None => (host, &[]),
        }
    };
    let name_ok = matches!(name, b"127.0.0.1" | b"localhost" | b"[::1]");
    let port_ok = port.is_empty()
        || (port[0] == b':' && port.len() > 1 && port[1..].iter().all(u8::is_ascii_digit));
    name_ok && port_ok
}

/// Paths where the token may come from the query string: GET-only event streams.
pub fn query_token_allowed(method: &Method, path: &str) -> bool {
    if method != Method::GET {
        return false;
    }
    if path == "/api/dev/events" {
        return true;
    }
    // `^/api/jobs/[^/]+/events$`
    path.strip_prefix("/api/jobs/")
        .and_then(|rest| rest.strip_suffix("/events"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

pub async fn host_guard(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    // HTTP/1.1 allows one Host; with two, which one a proxy or a browser meant is ambiguous,
    // and answering the first would let the other slip past this check.
    if request
        .headers()
        .get_all(header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            path,
            "Bad Request: more than one Host header",
        );
    }
    // An absolute-form target (`GET http://host/path`) names the host the request is for,
    // in place of the Host header: it must be loopback too.
    if let Some(authority) = request.uri().authority()
        && !is_loopback_host(authority.as_str().as_bytes())
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            path,
            "Bad Request: the request target names a host that is not loopback",
        );
    }
    let host = request
        .headers()
        .get(header::HOST)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if is_loopback_host(host) {
        return next.run(request).await;
    }
    let message = if path.starts_with("/api/") {
        "Studio API is loopback-only"
    } else {
        "Studio is loopback-only"
    };
    refuse(StatusCode::FORBIDDEN, path, message)
}

/// A refusal: JSON under `/api/`, plain text elsewhere.
fn refuse(status: StatusCode, path: &str, message: &str) -> Response {
    if path.starts_with("/api/") {
        super::json_error(status, message)
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
            message.to_owned(),
        )
            .into_response()
    }
}

pub async fn token_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !is_api_path(path) {
        return next.run(request).await;
    }
    let allowed = match header_token(request.headers()) {
        // A present header wins even when wrong, as in the reference (`header ?? query`).
        Some(provided) => tokens_match(&provided, state.token.as_bytes()),
        None if query_token_allowed(request.method(), path) => {
            let provided = request
                .uri()
                .query()
                .and_then(|q| query_param(q, TOKEN_QUERY_PARAM))
                .unwrap_or_default();
            tokens_match(&provided, state.token.as_bytes())
        }
        None => false,
    };
    if allowed {
        next.run(request).await
    } else {
        super::json_error(StatusCode::FORBIDDEN, "Missing or invalid studio token")
    }
}

/// The header's value as `Headers.get` would give it: repeated headers joined by `, `.
fn header_token(headers: &HeaderMap) -> Option<Vec<u8>> {
    let mut values = headers.get_all(TOKEN_HEADER).iter();
    let first = values.next()?;
    let mut joined = first.as_bytes().to_vec();
    for more in values {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(more.as_bytes());
    }
    Some(joined)
}

/// The first value of `name` in a raw query string, decoded like `URLSearchParams`
/// (`+` → space, `%XX` → byte; malformed escapes kept literally).
pub fn query_param(query: &str, name: &str) -> Option<Vec<u8>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(key.as_bytes()) == name.as_bytes()).then(|| form_decode(value.as_bytes()))
    })
}

fn form_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => {
                match (hex_value(input[i + 1]), hex_value(input[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_pass_and_everything_else_fails() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:4000",
            "localhost",
            "localhost:1",
            "[::1]",
            "[::1]:4000",
        ] {
            assert!(is_loopback_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "evil.com",
            "evil.com:4000",
            "localhost.evil.com",
            "127.0.0.1.nip.io",
            "127.0.0.1:",
            "127.0.0.1:40a0",
            "LOCALHOST",
            "[::1",
            "[::2]:4000",
            "::1",
            "localhost:4000:1",
            "127.0.0.1 ",
            "127.0.0.1:٤٠",
        ] {
            assert!(!is_loopback_host(bad.as_bytes()), "{bad}");
        }
        assert!(!is_loopback_host(&[0xff, 0xfe, b':', b'1']));
    }

    #[test]
    fn query_token_only_on_get_event_streams() {
        assert!(query_token_allowed(&Method::GET, "/api/dev/events"));
        assert!(query_token_allowed(&Method::GET, "/api/jobs/j-1/events"));
        assert!(!query_token_allowed(&Method::POST, "/api/dev/events"));
        assert!(!query_token_allowed(&Method::GET, "/api/jobs//events"));
        assert!(!query_token_allowed(&Method::GET, "/api/jobs/a/b/events"));
        assert!(!query_token_allowed(&Method::GET, "/api/train"));
        assert!(!query_token_allowed(&Method::GET, "/api/dev/events/"));
    }

    #[test]
    fn query_values_are_form_decoded() {
        assert_eq!(
            query_param("a=1&studioToken=x%2Dy+z", "studioToken"),
            Some(b"x-y z".to_vec())
        );
        assert_eq!(
            query_param("studioToken=%zz%4", "studioToken"),
            Some(b"%zz%4".to_vec())
        );
        assert_eq!(query_param("studioToken", "studioToken"), Some(Vec::new()));
        assert_eq!(query_param("x=1", "studioToken"), None);
        assert_eq!(
            query_param("studioToken=a&studioToken=b", "studioToken"),
            Some(b"a".to_vec())
        );
    }
}
