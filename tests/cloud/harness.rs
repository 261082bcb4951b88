//! Serves the cloud router on 127.0.0.1 against a fake cloud, with a throw-away home and
//! project directory, and talks to it over real HTTP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arkor_tui::core::cloud::CloudEnv;
use arkor_tui::core::events::NoticeLevel;
use arkor_tui::server::cloud::{CloudContext, CloudOptions, router};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::fake::FakeCloud;

/// Which `ARKOR_CLOUD_API_URL` the studio sees.
#[derive(Clone)]
pub enum EnvUrl {
    Unset,
    Fake,
    Custom(String),
}

pub struct Builder {
    auto_anonymous: bool,
    env_url: EnvUrl,
    credentials: Option<Value>,
    state: Option<Value>,
    project_subdir: Option<String>,
    request_timeout: Option<std::time::Duration>,
}

pub fn anon_credentials(base: &str) -> Value {
    json!({"mode": "anon", "token": "tok", "anonymousId": "anon-id",
        "arkorCloudApiUrl": base, "orgSlug": "anon-org"})
}

pub fn oauth_credentials(base: &str) -> Value {
    json!({"mode": "oauth", "accessToken": "at-oauth", "refreshToken": "rt", "expiresAt": 0,
        "auth0Domain": "tenant.auth0.com", "audience": "aud", "clientId": "cid",
        "arkorCloudApiUrl": base})
}

pub fn state(org: &str, project: &str) -> Value {
    json!({"orgSlug": org, "projectSlug": project, "projectId": format!("{project}-id")})
}

/// Placeholder the builder replaces with the fake's base URL.
pub const FAKE: &str = "<fake>";

impl Builder {
    /// Anonymous credentials (org `anon-org`, token `tok`) pointing at the fake; no state.
    pub fn new() -> Self {
        Self {
            auto_anonymous: true,
            env_url: EnvUrl::Unset,
            credentials: Some(anon_credentials(FAKE)),
            state: None,
            project_subdir: None,
            request_timeout: None,
        }
    }

    pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    pub fn auto_anonymous(mut self, on: bool) -> Self {
        self.auto_anonymous = on;
        self
    }

    pub fn env_url(mut self, env: EnvUrl) -> Self {
        self.env_url = env;
        self
    }

    pub fn credentials(mut self, creds: Option<Value>) -> Self {
        self.credentials = creds;
        self
    }

    pub fn state(mut self, state: Value) -> Self {
        self.state = Some(state);
        self
    }

    /// Use `<tmp>/<name>` as the project root (for the bootstrap slug).
    pub fn project_dir_named(mut self, name: &str) -> Self {
        self.project_subdir = Some(name.to_owned());
        self
    }

    pub async fn start(self) -> Studio {
        let fake = FakeCloud::start().await;
        let home = TempDir::new().expect("temp home");
        let project_tmp = TempDir::new().expect("temp project");
        let project_root = match &self.project_subdir {
            Some(name) => {
                let p = project_tmp.path().join(name);
                std::fs::create_dir_all(&p).expect("project dir");
                p
            }
            None => project_tmp.path().to_path_buf(),
        };
        if let Some(creds) = self.credentials {
            let text = creds.to_string().replace(FAKE, &fake.base);
            let path = home.path().join(".arkor").join("credentials.json");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        if let Some(state) = &self.state {
            write_json(&project_root.join(".arkor").join("state.json"), state);
        }
        let env = CloudEnv {
            home: home.path().to_path_buf(),
            cloud_api_url_override: match self.env_url {
                EnvUrl::Unset => None,
                EnvUrl::Fake => Some(fake.base.clone()),
                EnvUrl::Custom(u) => Some(u),
            },
        };
        let notices: Arc<Mutex<Vec<(NoticeLevel, String)>>> = Arc::default();
        let sink = notices.clone();
        let mut options = CloudOptions::new(&project_root, env);
        options.auto_anonymous = self.auto_anonymous;
        if let Some(timeout) = self.request_timeout {
            options.request_timeout = timeout;
        }
        options.notices = Arc::new(move |level, message| {
            sink.lock().unwrap().push((level, message));
        });
        let app = router(CloudContext::new(options));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the studio");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Studio {
            url,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            fake,
            home,
            _project_tmp: project_tmp,
            project_root,
            notices,
            server,
        }
    }
}

pub fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

pub struct Studio {
    pub url: String,
    pub http: reqwest::Client,
    pub fake: FakeCloud,
    pub home: TempDir,
    _project_tmp: TempDir,
    pub project_root: PathBuf,
    notices: Arc<Mutex<Vec<(NoticeLevel, String)>>>,
    server: JoinHandle<()>,
}

impl Drop for Studio {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A reply read to the end.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

impl Studio {
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .header("host", "127.0.0.1:4000")
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        let response = builder.send().await.expect("studio answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("studio body");
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &str) -> Reply {
        self.send(
            self.request(reqwest::Method::PATCH, path)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }

    pub fn state_path(&self) -> PathBuf {
        self.project_root.join(".arkor").join("state.json")
    }

    pub fn state_text(&self) -> Option<String> {
        std::fs::read_to_string(self.state_path()).ok()
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.home.path().join(".arkor").join("credentials.json")
    }

    pub fn credentials_json(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.credentials_path()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn notices(&self) -> Vec<(NoticeLevel, String)> {
        self.notices.lock().unwrap().clone()
    }

    pub fn env(&self) -> CloudEnv {
        CloudEnv {
            home: self.home.path().to_path_buf(),
            cloud_api_url_override: None,
        }
    }
}
