//! Start-up sign-in without credentials (docs/protocol.md §16).

use arkor_tui::core::cloud::CloudEnv;
use arkor_tui::core::cloud::bootstrap::{StartupError, StartupSignIn, sign_in_at_start};
use arkor_tui::core::cloud::client::http_client;
use serde_json::json;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fake::{Canned, FakeCloud};

fn env_for(home: &TempDir, base: &str) -> CloudEnv {
    CloudEnv {
        home: home.path().to_path_buf(),
        cloud_api_url_override: Some(base.to_owned()),
    }
}

/// A cloud that answers the CLI config but drops the connection on anything else.
async fn config_only_cloud() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if head.starts_with(b"GET /v1/auth/cli/config ") {
                    let body =
                        r#"{"auth0Domain":"","clientId":"","audience":"","callbackPorts":[]}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                }
                // Anything else: close without an answer (a transport failure).
            });
        }
    });
    (base, task)
}

async fn dead_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    base
}

#[tokio::test]
async fn case_43_start_up_sign_in_policy() {
    // Config answered, anonymous sign-in unreachable → start anyway, no credentials file.
    let home = TempDir::new().unwrap();
    let (base, server) = config_only_cloud().await;
    let env = env_for(&home, &base);
    let outcome = sign_in_at_start(&env, &http_client(), "0.0.3-alpha.1").await;
    server.abort();
    match outcome {
        Ok(deferred @ StartupSignIn::Deferred { .. }) => {
            let line = deferred.message().unwrap();
            assert!(line.contains(&base) && line.contains("first use"), "{line}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!env.credentials_path().exists());

    // Both unreachable → start-up fails.
    let home = TempDir::new().unwrap();
    let base = dead_base().await;
    match sign_in_at_start(&env_for(&home, &base), &http_client(), "x").await {
        Err(e @ StartupError::Unreachable { .. }) => assert!(e.to_string().contains(&base)),
        other => panic!("{other:?}"),
    }

    // Anonymous 500 → fails with the status.
    let fake = FakeCloud::start().await;
    fake.on(
        "POST",
        "/v1/auth/anonymous",
        Canned::json(500, json!({"error": "db down"})),
    );
    let home = TempDir::new().unwrap();
    let err = sign_in_at_start(&env_for(&home, &fake.base), &http_client(), "x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("(500)"), "{err}");

    // Anonymous 403 with OAuth available → names HTTP 403 and `arkor login --oauth`,
    // without echoing the body.
    let fake = FakeCloud::start().await;
    fake.on(
        "GET",
        "/v1/auth/cli/config",
        Canned::json(
            200,
            json!({"auth0Domain": "t.auth0.com", "clientId": "c",
            "audience": "a", "callbackPorts": [52521]}),
        ),
    );
    fake.on(
        "POST",
        "/v1/auth/anonymous",
        Canned::json(403, json!({"error": "secret-body-text"})),
    );
    let home = TempDir::new().unwrap();
    let err = sign_in_at_start(&env_for(&home, &fake.base), &http_client(), "x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 403") && err.contains("arkor login --oauth"),
        "{err}"
    );
    assert!(!err.contains("secret-body-text"), "{err}");
}

#[tokio::test]
async fn start_up_sign_in_persists_and_prints_one_line() {
    let fake = FakeCloud::start().await;
    let home = TempDir::new().unwrap();
    let env = env_for(&home, &format!("{}/", fake.base));
    let outcome = sign_in_at_start(&env, &http_client(), "1.2.3")
        .await
        .unwrap();
    let line = outcome.message().expect("one line");
    assert!(
        line.starts_with("Signed in anonymously (anon-org)"),
        "{line}"
    );
    assert!(!line.contains('\n'));
    let config = &fake.requests_to("GET", "/v1/auth/cli/config")[0];
    assert_eq!(config.header("x-arkor-client"), Some("arkor/1.2.3"));
    assert!(config.headers.get("authorization").is_none());
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.credentials_path()).unwrap()).unwrap();
    assert_eq!(file["mode"], "anon");
    assert_eq!(
        file["arkorCloudApiUrl"], fake.base,
        "trailing slash stripped"
    );

    // Credentials on file → nothing to do, no call.
    let before = fake.requests().len();
    let again = sign_in_at_start(&env, &http_client(), "1.2.3")
        .await
        .unwrap();
    assert_eq!(again, StartupSignIn::AlreadySignedIn);
    assert_eq!(again.message(), None);
    assert_eq!(fake.requests().len(), before);
}
