//! `/api/manifest`, the Studio SPA assets, the cloud fallback, and unknown routes.

use std::path::Path;

use arkor_tui::core::events::{BuiltArtifact, DevEvent};

use super::common::*;

const INDEX: &str = "<!doctype html><html><head><title>Studio</title></head><body></body></html>";

/// Lay out an installed SDK as the reference package publishes it.
fn install_sdk(project: &Path) {
    let sdk = project.join("node_modules/arkor");
    std::fs::create_dir_all(sdk.join("dist/assets/assets")).expect("mkdir");
    std::fs::write(
        sdk.join("package.json"),
        r#"{"name":"arkor","bin":{"arkor":"./dist/bin.mjs"}}"#,
    )
    .expect("write");
    std::fs::write(sdk.join("dist/bin.mjs"), "").expect("write");
    std::fs::write(sdk.join("dist/assets/index.html"), INDEX).expect("write");
    std::fs::write(
        sdk.join("dist/assets/assets/main.js"),
        "console.log('studio')",
    )
    .expect("write");
    std::fs::write(sdk.join("dist/assets/assets/style.css"), "body{}").expect("write");
}

#[tokio::test]
async fn manifest_follows_the_last_dev_event() {
    let h = Harness::start().await;
    let text = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        (status, res.text().await.expect("body"))
    };
    assert_eq!(
        text(h.get("/api/manifest").await).await,
        (200, r#"{"trainer":null,"configHash":null}"#.to_owned())
    );
    h.publish(built(true, "c1", Some("996c886df5bc8d78"), None));
    assert_eq!(
        text(h.get("/api/manifest").await).await,
        (
            200,
            r#"{"trainer":{"name":"qa-bot"},"configHash":"996c886df5bc8d78"}"#.to_owned()
        )
    );
    h.publish(DevEvent::Error {
        message: "syntax error".into(),
    });
    assert_eq!(
        text(h.get("/api/manifest").await).await,
        (
            400,
            r#"{"error":"Build failed; see HMR error frame"}"#.to_owned()
        )
    );
    // A bundle without a trainer.
    h.publish(DevEvent::Built {
        first: false,
        artifact: BuiltArtifact {
            out_file: "/p/.arkor/build/index.mjs".into(),
            hash: "1-1-1".into(),
            content_hash: Some("c2".into()),
            config_hash: None,
            trainer_name: None,
            config: None,
            build_duration: Default::default(),
            inspect_duration: Default::default(),
        },
        dispatch: None,
    });
    assert_eq!(
        text(h.get("/api/manifest").await).await,
        (200, r#"{"trainer":null,"configHash":null}"#.to_owned())
    );
}

#[tokio::test]
async fn the_installed_sdk_studio_is_served_with_injected_meta_tags() {
    let h = Harness::start_with(|_, project| install_sdk(project)).await;
    let host = format!("127.0.0.1:{}", h.port);
    let expected_index = format!(
        "<!doctype html><html><head><title>Studio</title><meta name=\"arkor-studio-token\" content=\"{}\"><meta name=\"arkor-hmr-enabled\" content=\"true\"></head><body></body></html>",
        h.token
    );
    for path in ["/", "/jobs/some-uuid", "/playground", "/index.html"] {
        let res = h.raw_get(path, &host, "").await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(
            res.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(res.text(), expected_index, "{path}");
    }
    let js = h.raw_get("/assets/main.js", &host, "").await;
    assert_eq!(
        (js.status, js.header("content-type")),
        (200, Some("text/javascript"))
    );
    assert_eq!(js.text(), "console.log('studio')");
    let css = h.raw_get("/assets/style.css", &host, "").await;
    assert_eq!(
        (css.status, css.header("content-type")),
        (200, Some("text/css"))
    );

    // Asset-looking misses are 404, never index.html.
    for path in [
        "/assets/missing.js",
        "/nope.png",
        "/%2e%2e/%2e%2e/package.json",
        "/..%2f..%2fpackage.json",
    ] {
        let res = h.raw_get(path, &host, "").await;
        assert_eq!(res.status, 404, "{path}");
        assert!(!res.text().contains("arkor-studio-token"), "{path}");
    }
    // Traversal without an extension falls back to the index, never to a file outside.
    let res = h
        .raw_get("/..%2f..%2fnode_modules%2farkor%2fpackage", &host, "")
        .await;
    assert!(!res.text().contains("\"bin\""));

    // The favicon: the embedded icon when the SDK has none.
    let icon = h.raw_get("/favicon.ico", &host, "").await;
    assert_eq!(
        (icon.status, icon.header("content-type")),
        (200, Some("image/x-icon"))
    );
    assert!(icon.body.starts_with(&[0, 0, 1, 0]), "an ICO file");

    // HEAD works like GET without a body.
    let head = h
        .raw(format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await;
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.contains("arkor-studio-token"));
}

#[tokio::test]
async fn an_explicit_assets_dir_and_its_own_favicon_win() {
    let assets = tempfile::tempdir().expect("assets");
    std::fs::write(assets.path().join("index.html"), "<p>no head</p>").expect("write");
    std::fs::write(assets.path().join("favicon.ico"), "own-icon").expect("write");
    let dir = assets.path().to_path_buf();
    let h = Harness::start_with(move |cfg, _| cfg.assets_dir = Some(dir)).await;
    let host = format!("127.0.0.1:{}", h.port);
    let index = h.raw_get("/", &host, "").await;
    assert_eq!(
        index.text(),
        format!(
            "<meta name=\"arkor-studio-token\" content=\"{}\"><meta name=\"arkor-hmr-enabled\" content=\"true\"><p>no head</p>",
            h.token
        )
    );
    assert_eq!(
        h.raw_get("/favicon.ico", &host, "").await.text(),
        "own-icon"
    );
}

#[tokio::test]
async fn without_studio_assets_the_page_says_how_to_get_them() {
    let h = Harness::start().await;
    let host = format!("127.0.0.1:{}", h.port);
    let res = h.raw_get("/", &host, "").await;
    assert_eq!(res.status, 404);
    assert!(res.text().contains("npm install arkor"), "{}", res.text());
    assert_eq!(h.raw_get("/assets/x.js", &host, "").await.status, 404);
    assert_eq!(h.raw_get("/favicon.ico", &host, "").await.status, 200);
}

#[tokio::test]
async fn cloud_routes_answer_a_json_error_naming_the_route_behind_the_guards() {
    let h = Harness::start().await;
    for path in [
        "/api/credentials",
        "/api/me",
        "/api/jobs",
        "/api/jobs/job-1/events",
        "/api/deployments",
        "/api/deployments/dep-1/keys",
    ] {
        let res = h.get(path).await;
        assert_eq!(res.status(), 501, "{path}");
        let body: serde_json::Value = res.json().await.expect("json");
        let message = body["error"].as_str().expect("error string");
        assert!(message.contains(&format!("GET {path}")), "{message}");
        assert!(
            message.contains("set HOME"),
            "the cause and the fix: {message}"
        );
        // Without the token the guard answers first.
        let res = Harness::client()
            .get(h.url(path))
            .send()
            .await
            .expect("response");
        assert_eq!(res.status(), 403, "{path}");
    }
    let res = Harness::client()
        .post(h.url("/api/inference/chat"))
        .header("x-arkor-studio-token", &h.token)
        .body("{}")
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 501);
}

#[tokio::test]
async fn unknown_routes_are_404_and_api_misses_never_serve_the_index() {
    let h = Harness::start_with(|_, project| install_sdk(project)).await;
    let res = h.get("/api/nope").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.text().await.expect("body"), r#"{"error":"Not found"}"#);
    let res = Harness::client()
        .post(h.url("/somewhere"))
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 404);
    // Wrong method on a known API route.
    let res = h.get("/api/train").await;
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn mounted_cloud_routes_replace_the_fallback_behind_the_same_guards() {
    use axum::routing::get;
    let cloud = axum::Router::new().route("/api/me", get(|| async { "from the cloud router" }));
    let h = Harness::start_with(move |cfg, _| cfg.cloud_routes = Some(cloud)).await;
    let res = h.get("/api/me").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "from the cloud router");
    let res = Harness::client()
        .get(h.url("/api/me"))
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 403, "token guard applies");
    let evil = h
        .raw_get(
            "/api/me",
            "evil.com",
            &format!("X-Arkor-Studio-Token: {}\r\n", h.token),
        )
        .await;
    assert_eq!(evil.status, 403, "host guard applies");
}

/// The real Studio build of the reference SDK, when one is available: set
/// `ARKOR_REFERENCE_SDK` to its `packages/arkor` folder (see the shared reference-sdk notes).
#[tokio::test]
async fn the_real_studio_build_is_served_from_an_installed_sdk() {
    let Some(sdk) = std::env::var_os("ARKOR_REFERENCE_SDK") else {
        eprintln!(
            "skipped: set ARKOR_REFERENCE_SDK to a built reference packages/arkor to run this"
        );
        return;
    };
    let sdk = std::path::PathBuf::from(sdk);
    assert!(
        sdk.join("dist/assets/index.html").is_file(),
        "no Studio build under {}",
        sdk.display()
    );
    let h = Harness::start_with(move |_, project| {
        std::fs::create_dir_all(project.join("node_modules")).expect("mkdir");
        std::os::unix::fs::symlink(&sdk, project.join("node_modules/arkor")).expect("link the SDK");
    })
    .await;
    let host = format!("127.0.0.1:{}", h.port);
    let index = h.raw_get("/", &host, "").await;
    assert_eq!(index.status, 200);
    let html = index.text();
    let tags = format!(
        "<meta name=\"arkor-studio-token\" content=\"{}\"><meta name=\"arkor-hmr-enabled\" content=\"true\"></head>",
        h.token
    );
    assert!(html.contains(&tags), "{html}");

    // Every script and stylesheet the index references is served with its type.
    let mut referenced = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap_or_default();
            if url.starts_with('/') {
                referenced.push(url.to_owned());
            }
        }
    }
    assert!(
        referenced.iter().any(|u| u.ends_with(".js")),
        "{referenced:?}"
    );
    let mut bundle = String::new();
    for url in &referenced {
        let res = h.raw_get(url, &host, "").await;
        assert_eq!(res.status, 200, "{url}");
        let expected = if url.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert_eq!(res.header("content-type"), Some(expected), "{url}");
        if url.ends_with(".js") {
            bundle.push_str(&res.text());
        }
    }
    // The names this server speaks are the ones the SPA reads.
    for name in [
        "arkor-studio-token",
        "arkor-hmr-enabled",
        "x-arkor-train-pid",
        "/api/dev/events",
        "studioToken",
        "X-Arkor-Studio-Token",
    ] {
        assert!(
            bundle.contains(name),
            "the Studio bundle never mentions {name}"
        );
    }
}
