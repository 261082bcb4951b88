//! The HTTP client for the cloud API (reqwest + rustls). Every call carries
//! `X-Arkor-Client: arkor/<sdk version>` and, when signed in, `Authorization: Bearer`.
//! Errors are typed so each route can map them as docs/protocol.md §14 says (and, deliberately better
//! than the reference, report an unreachable cloud as such instead of a bare 500).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::state::ProjectScope;

/// How long to wait for a TCP/TLS connection to the cloud.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default budget of a non-streaming call (JSON in, JSON out), and of the wait for the
/// response headers of an event stream. A stream's body has no time limit.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// The cloud answered with a non-2xx status; `message` follows docs/protocol.md §14.1.
    #[error("{message}")]
    Api { status: u16, message: String },
    /// No answer: connection refused, DNS, TLS, timeout, a body cut short.
    #[error("cloud API unreachable at {base}: {reason}")]
    Unreachable { base: String, reason: String },
    /// The base URL cannot form a request URL (e.g. `ARKOR_CLOUD_API_URL=""`).
    #[error("invalid cloud API URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A 2xx answer whose body is not what the contract says.
    #[error("unexpected cloud API response from {path}: {reason}")]
    Decode { path: String, reason: String },
}

/// A `Deprecation: true` answer, as the SDK records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeprecationNotice {
    pub sdk_version: String,
    pub message: String,
    pub sunset: Option<String>,
}

impl DeprecationNotice {
    /// docs/protocol.md §14.1: message = the quoted text of a `NNN - "text"` Warning, else the raw
    /// Warning, else a default line; plus Sunset.
    pub fn from_headers(headers: &HeaderMap, sdk_version: &str) -> Option<Self> {
        let deprecated = headers
            .get("deprecation")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "true");
        if !deprecated {
            return None;
        }
        let warning = headers
            .get("warning")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let message = match warning {
            Some(w) => quoted_warning_text(&w).map(str::to_owned).unwrap_or(w),
            None => format!("Arkor SDK {sdk_version} is deprecated"),
        };
        let sunset = headers
            .get("sunset")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Some(Self {
            sdk_version: sdk_version.to_owned(),
            message,
            sunset,
        })
    }

    /// One line for the user.
    pub fn describe(&self) -> String {
        match &self.sunset {
            Some(sunset) => format!(
                "Arkor Cloud: {} (sunset {sunset}). Upgrade the arkor SDK in this project.",
                self.message
            ),
            None => format!(
                "Arkor Cloud: {}. Upgrade the arkor SDK in this project.",
                self.message
            ),
        }
    }

    /// The `Warning` value re-emitted on decoded routes: `299 - "<msg>"` with control
    /// characters turned into spaces and `\` / `"` backslash-escaped.
    pub fn warning_header(&self) -> String {
        let mut escaped = String::with_capacity(self.message.len() + 8);
        for c in self.message.chars() {
            match c {
                c if (c as u32) < 0x20 || c as u32 == 0x7f => escaped.push(' '),
                '\\' => escaped.push_str("\\\\"),
                '"' => escaped.push_str("\\\""),
                c => escaped.push(c),
            }
        }
        format!("299 - \"{escaped}\"")
    }
}

/// `^\d{3}\s+-\s+"(.+)"\s*$`, by hand.
fn quoted_warning_text(warning: &str) -> Option<&str> {
    let bytes = warning.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let rest = &warning[3..];
    let after_ws = rest.trim_start();
    if after_ws.len() == rest.len() {
        return None;
    }
    let after_dash = after_ws.strip_prefix('-')?;
    let after_ws2 = after_dash.trim_start();
    if after_ws2.len() == after_dash.len() {
        return None;
    }
    let quoted = after_ws2.strip_prefix('"')?.trim_end();
    let inner = quoted.strip_suffix('"')?;
    (!inner.is_empty()).then_some(inner)
}

/// A created or listed cloud project (only the fields the bootstrap needs are required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudProject {
    pub id: String,
    pub slug: String,
}

/// What to send upstream.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: Method,
    /// Path below the base, e.g. `/v1/jobs`, already percent-encoded.
    pub path: String,
    /// Query pairs, component-encoded in order.
    pub query: Vec<(&'static str, String)>,
    pub body: Option<UpstreamBody>,
    pub extra_headers: Vec<(&'static str, String)>,
    pub limit: TimeLimit,
}

/// How long a call may take, measured against the client's request timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimit {
    /// The whole exchange, body included.
    Total,
    /// Only until the response headers arrive.
    Headers,
    None,
}

#[derive(Debug, Clone)]
pub enum UpstreamBody {
    /// Sent with `Content-Type: application/json`, bytes unchanged.
    Json(bytes::Bytes),
}

impl UpstreamRequest {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            extra_headers: Vec::new(),
            limit: TimeLimit::Total,
        }
    }

    pub fn scoped(mut self, scope: &ProjectScope) -> Self {
        self.query.push(("orgSlug", scope.org_slug.clone()));
        self.query.push(("projectSlug", scope.project_slug.clone()));
        self
    }

    pub fn json(mut self, body: impl Into<bytes::Bytes>) -> Self {
        self.body = Some(UpstreamBody::Json(body.into()));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra_headers.push((name, value.into()));
        self
    }

    /// `GET /v1/jobs/{id}/events/stream` with the scope query, `Accept: text/event-stream`,
    /// and `Last-Event-ID` when resuming (only when non-empty). Only the wait for the
    /// response headers is limited: the stream lives as long as the job.
    pub fn job_events(job_id: &str, scope: &ProjectScope, last_event_id: Option<&str>) -> Self {
        let path = format!("/v1/jobs/{}/events/stream", encode_component(job_id));
        let mut request = Self::new(Method::GET, path)
            .scoped(scope)
            .header("Accept", "text/event-stream")
            .streaming();
        if let Some(last) = last_event_id.filter(|id| !id.is_empty()) {
            request = request.header("Last-Event-ID", last);
        }
        request
    }

    /// Limit only the wait for the response headers; the body streams as long as the
    /// browser listens.
    pub fn streaming(mut self) -> Self {
        self.limit = TimeLimit::Headers;
        self
    }

    /// No time limit at all (a non-streamed completion holds its headers until done).
    pub fn unlimited(mut self) -> Self {
        self.limit = TimeLimit::None;
        self
    }
}

/// The shared reqwest client: connect timeout, no total timeout (set per request), no
/// environment proxies (the reference's `fetch` uses none either).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .build()
        .unwrap_or_else(|e| {
            tracing::error!("could not build the configured HTTP client ({e}); using defaults");
            reqwest::Client::new()
        })
}

/// One identity against one base URL. Cheap to clone; clones share the recorded
/// deprecation notice, so a route sees notices from every call it made.
#[derive(Clone, Debug)]
pub struct CloudClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    client_version: String,
    request_timeout: Duration,
    deprecation: Arc<Mutex<Option<DeprecationNotice>>>,
}

impl CloudClient {
    pub fn new(
        http: reqwest::Client,
        base: impl Into<String>,
        token: Option<String>,
        client_version: impl Into<String>,
    ) -> Self {
        Self {
            http,
            base: base.into(),
            token,
            client_version: client_version.into(),
            request_timeout: REQUEST_TIMEOUT,
            deprecation: Arc::new(Mutex::new(None)),
        }
    }

    /// Replace the default [`REQUEST_TIMEOUT`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn client_version(&self) -> &str {
        &self.client_version
    }

    /// The latest deprecation notice any call of this client (or its clones) received.
    pub fn deprecation(&self) -> Option<DeprecationNotice> {
        self.deprecation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn url(&self, path: &str, query: &[(&'static str, String)]) -> String {
        let mut url = format!("{}{}", self.base, path);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&encode_component(v));
        }
        url
    }

    /// Send one request and return the response, whatever its status. Records a
    /// deprecation notice when the answer carries one.
    pub async fn send(&self, request: UpstreamRequest) -> Result<reqwest::Response, CloudError> {
        let url = self.url(&request.path, &request.query);
        let mut builder = self
            .http
            .request(request.method.clone(), &url)
            .header("X-Arkor-Client", format!("arkor/{}", self.client_version));
        if let Some(token) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in &request.extra_headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(UpstreamBody::Json(body)) = request.body {
            builder = builder
                .header("Content-Type", HeaderValue::from_static("application/json"))
                .body(body);
        }
        if request.limit == TimeLimit::Total {
            builder = builder.timeout(self.request_timeout);
        }
        let sent = builder.send();
        let result = if request.limit == TimeLimit::Headers {
            match tokio::time::timeout(self.request_timeout, sent).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(CloudError::Unreachable {
                        base: self.base.clone(),
                        reason: "timed out".to_owned(),
                    });
                }
            }
        } else {
            sent.await
        };
        let response = result.map_err(|e| self.transport_error(&url, &e))?;
        if let Some(notice) =
            DeprecationNotice::from_headers(response.headers(), &self.client_version)
        {
            *self.deprecation.lock().unwrap_or_else(|e| e.into_inner()) = Some(notice);
        }
        Ok(response)
    }

    /// Map a reqwest failure: a request that could not be formed is a URL problem;
    /// everything else means the cloud did not answer.
    pub fn transport_error(&self, url: &str, e: &reqwest::Error) -> CloudError {
        if e.is_builder() {
            return CloudError::InvalidUrl {
                url: url.to_owned(),
                reason: innermost_reason(e),
            };
        }
        CloudError::Unreachable {
            base: self.base.clone(),
            reason: if e.is_timeout() {
                "timed out".to_owned()
            } else {
                innermost_reason(e)
            },
        }
    }

    /// Send and decode a JSON answer; a non-2xx answer becomes [`CloudError::Api`].
    pub async fn call_json(&self, request: UpstreamRequest) -> Result<Value, CloudError> {
        let path = request.path.clone();
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(self.api_error(response).await);
        }
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&path, &e))?;
        serde_json::from_str(&text).map_err(|e| CloudError::Decode {
            path,
            reason: e.to_string(),
        })
    }

    /// Send and ignore the body of a 2xx answer (DELETE → 204, cancel).
    pub async fn call_empty(&self, request: UpstreamRequest) -> Result<(), CloudError> {
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(self.api_error(response).await);
        }
        Ok(())
    }

    /// docs/protocol.md §14.1 upstream error message: 426 → the upgrade hint; else the body's `error`
    /// (or `message`) when a non-empty string; else the raw text; else `cloud-api <status>`.
    pub async fn api_error(&self, response: reqwest::Response) -> CloudError {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        CloudError::Api {
            status,
            message: api_error_message(status, &text),
        }
    }

    pub async fn create_project(
        &self,
        org_slug: &str,
        name: &str,
        slug: &str,
    ) -> Result<CloudProject, CloudError> {
        let mut request = UpstreamRequest::new(Method::POST, "/v1/projects")
            .json(serde_json::json!({ "name": name, "slug": slug }).to_string());
        request.query.push(("orgSlug", org_slug.to_owned()));
        let body = self.call_json(request).await?;
        body.get("project")
            .and_then(parse_project)
            .ok_or_else(|| CloudError::Decode {
                path: "/v1/projects".into(),
                reason: "expected {project: {id, slug, name, orgId}}".into(),
            })
    }

    pub async fn list_projects(&self, org_slug: &str) -> Result<Vec<CloudProject>, CloudError> {
        let mut request = UpstreamRequest::new(Method::GET, "/v1/projects");
        request.query.push(("orgSlug", org_slug.to_owned()));
        let body = self.call_json(request).await?;
        let decode_err = || CloudError::Decode {
            path: "/v1/projects".into(),
            reason: "expected {org: {slug}, projects: [...]}".into(),
        };
        if body.pointer("/org/slug").and_then(Value::as_str).is_none() {
            return Err(decode_err());
        }
        body.get("projects")
            .and_then(Value::as_array)
            .ok_or_else(decode_err)?
            .iter()
            .map(|p| parse_project(p).ok_or_else(decode_err))
            .collect()
    }

    /// Open a job's event stream: a 2xx response whose body is the stream, or the
    /// cloud's error (non-2xx answers become [`CloudError::Api`]).
    pub async fn open_job_events(
        &self,
        job_id: &str,
        scope: &ProjectScope,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, CloudError> {
        let response = self
            .send(UpstreamRequest::job_events(job_id, scope, last_event_id))
            .await?;
        if !response.status().is_success() {
            return Err(self.api_error(response).await);
        }
        Ok(response)
    }

    /// `POST /v1/jobs/{id}/cancel` with the scope query and no body.
    pub async fn cancel_job(&self, job_id: &str, scope: &ProjectScope) -> Result<(), CloudError> {
        let path = format!("/v1/jobs/{}/cancel", encode_component(job_id));
        self.call_empty(UpstreamRequest::new(Method::POST, path).scoped(scope))
            .await
    }
}

fn parse_project(v: &Value) -> Option<CloudProject> {
    let field = |k: &str| v.get(k)?.as_str().map(str::to_owned);
    // name and orgId are required by the SDK's schema even though only id/slug are used.
    field("name")?;
    field("orgId")?;
    Some(CloudProject {
        id: field("id")?,
        slug: field("slug")?,
    })
}

pub fn api_error_message(status: u16, text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    if status == 426 {
        return upgrade_hint(parsed.as_ref());
    }
    let field = parsed.as_ref().and_then(|p| {
        ["error", "message"]
            .iter()
            .find_map(|k| p.get(*k).and_then(Value::as_str))
    });
    match field {
        Some(f) if !f.is_empty() => f.to_owned(),
        _ if !text.is_empty() => text.to_owned(),
        _ => format!("cloud-api {status}"),
    }
}

/// Always non-empty, even for a body that is not JSON.
fn upgrade_hint(body: Option<&Value>) -> String {
    let detail = body.and_then(|b| {
        ["message", "error"]
            .iter()
            .find_map(|k| b.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
    });
    let command = "npm install arkor@latest";
    match detail {
        Some(d) => format!("{d} Run `{command}` in the project to upgrade the arkor SDK."),
        None => format!(
            "Arkor SDK is no longer supported by the cloud API. Run `{command}` in the project to upgrade."
        ),
    }
}

/// JavaScript's `encodeURIComponent`.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'~'
            | b'*'
            | b'\''
            | b'('
            | b')' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The most specific cause in an error chain ("Connection refused (os error 111)").
fn innermost_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_text_extraction() {
        assert_eq!(quoted_warning_text("299 - \"old sdk\""), Some("old sdk"));
        assert_eq!(quoted_warning_text("299  -  \"a \"b\"\" "), Some("a \"b\""));
        assert_eq!(quoted_warning_text("299 -\"x\""), None);
        assert_eq!(quoted_warning_text("29 - \"x\""), None);
        assert_eq!(quoted_warning_text("299 - \"\""), None);
    }

    #[test]
    fn re_emitted_warning_has_no_bare_quotes_or_line_breaks() {
        let n = DeprecationNotice {
            sdk_version: "1".into(),
            message: "a \"q\" \\ b\r\nc".into(),
            sunset: None,
        };
        assert_eq!(n.warning_header(), "299 - \"a \\\"q\\\" \\\\ b  c\"");
    }

    #[test]
    fn error_messages_follow_the_sdk() {
        assert_eq!(api_error_message(409, r#"{"error":"taken"}"#), "taken");
        assert_eq!(api_error_message(500, r#"{"error":""}"#), r#"{"error":""}"#);
        assert_eq!(api_error_message(502, "bad gateway"), "bad gateway");
        assert_eq!(api_error_message(503, ""), "cloud-api 503");
        assert!(!api_error_message(426, "not json").is_empty());
    }

    #[test]
    fn component_encoding_matches_javascript() {
        assert_eq!(encode_component("a b/c?d=é"), "a%20b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(encode_component("-_.!~*'()"), "-_.!~*'()");
    }
}
