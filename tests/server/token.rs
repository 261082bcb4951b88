//! The studio-token file and the port rules.

use std::os::unix::fs::PermissionsExt;

use arkor_tui::core::engine::EngineHandle;
use arkor_tui::core::project::Project;
use arkor_tui::server::{self, DEFAULT_PORT, ServerConfig, TokenFile};

use super::common::*;

fn token_path(h: &Harness) -> std::path::PathBuf {
    h.home.path().join(".arkor").join("studio-token")
}

#[tokio::test]
async fn the_token_file_is_0600_holds_the_token_and_is_removed_on_shutdown() {
    let mut h = Harness::start().await;
    let path = token_path(&h);
    let meta = std::fs::metadata(&path).expect("token file exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), h.token);
    assert!(h.token.len() >= 43);
    // No staging leftovers next to it.
    let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("studio-token")]);

    h.server.take().expect("running").shutdown().await;
    assert!(!path.exists(), "our token file is removed");
    assert_eq!(
        std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .count(),
        0
    );
}

#[tokio::test]
async fn a_newer_owners_token_survives_our_shutdown() {
    let mut h = Harness::start().await;
    let path = token_path(&h);
    std::fs::write(&path, "another-instance-token-0123456789").expect("overwrite");
    h.server.take().expect("running").shutdown().await;
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        "another-instance-token-0123456789"
    );
    assert_eq!(
        std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .count(),
        1,
        "no reap leftovers"
    );
}

#[tokio::test]
async fn dropping_the_server_also_removes_the_token_file() {
    let mut h = Harness::start().await;
    let path = token_path(&h);
    drop(h.server.take());
    assert!(!path.exists());
}

#[tokio::test]
async fn two_servers_each_write_a_distinct_token() {
    let a = Harness::start().await;
    let b = Harness::start().await;
    assert_ne!(a.token, b.token);
    assert_ne!(a.port, b.port);
}

#[tokio::test]
async fn an_asked_port_in_use_fails_clearly_and_touches_no_token_file() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let home = tempfile::tempdir().expect("home");
    let project = tempfile::tempdir().expect("project");
    let (handle, _engine) = EngineHandle::detached(Project::at(project.path()).expect("project"));
    let token_file = home.path().join(".arkor/studio-token");
    let err = server::start(
        handle,
        ServerConfig {
            port: Some(port),
            token_file: TokenFile::At(token_file.clone()),
            assets_dir: None,
            cloud_routes: None,
            ..Default::default()
        },
    )
    .await
    .err()
    .expect("port in use is an error");
    let message = err.to_string();
    assert!(
        message.contains(&format!("Port {port} is already in use")),
        "{message}"
    );
    assert!(message.contains("--port"), "{message}");
    assert!(
        !token_file.exists(),
        "a failed launch never writes the token file"
    );
}

#[tokio::test]
async fn without_an_asked_port_a_busy_default_moves_to_a_free_one() {
    // Hold the default port ourselves if it is free; if someone else holds it, it is busy too.
    let _held = std::net::TcpListener::bind(("127.0.0.1", DEFAULT_PORT)).ok();
    let project = tempfile::tempdir().expect("project");
    let (handle, _engine) = EngineHandle::detached(Project::at(project.path()).expect("project"));
    let running = server::start(
        handle,
        ServerConfig {
            port: None,
            token_file: TokenFile::Disabled,
            assets_dir: None,
            cloud_routes: None,
            ..Default::default()
        },
    )
    .await
    .expect("starts on another port");
    assert_ne!(running.port(), DEFAULT_PORT);
    assert_eq!(
        running.url(),
        format!("http://127.0.0.1:{}/", running.port())
    );
    assert!(running.token_file().is_none());
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{}api/manifest", running.url()))
        .header("x-arkor-studio-token", running.token())
        .send()
        .await
        .expect("served");
    assert_eq!(res.status(), 200);
    running.shutdown().await;
}

#[tokio::test]
async fn the_listener_is_loopback_only() {
    let h = Harness::start().await;
    // Any non-loopback address of this machine must refuse the connection.
    let addrs = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let external: Vec<std::net::Ipv4Addr> = addrs
        .lines()
        .filter_map(|l| l.trim().strip_prefix("|-- "))
        .filter_map(|a| a.parse().ok())
        .filter(|a: &std::net::Ipv4Addr| {
            !a.is_loopback()
                && !a.is_unspecified()
                && !a.is_broadcast()
                && a.octets()[3] != 0
                && a.octets()[3] != 255
        })
        .collect();
    if external.is_empty() {
        eprintln!("skipped: no non-loopback IPv4 address on this machine");
    }
    for addr in external {
        assert!(
            tokio::net::TcpStream::connect((addr, h.port))
                .await
                .is_err(),
            "reachable on {addr}"
        );
    }
}

#[tokio::test]
async fn an_unwritable_token_file_is_a_warning_not_a_failure() {
    let blocker = tempfile::NamedTempFile::new().expect("file");
    // A regular file where the `.arkor` folder should be: the write cannot succeed.
    let path = blocker.path().join("studio-token");
    let h = Harness::start_with(move |cfg, _| cfg.token_file = TokenFile::At(path)).await;
    let server = h.server.as_ref().expect("running");
    assert!(server.token_file().is_none());
    assert_eq!(server.warnings().len(), 1);
    assert!(
        server.warnings()[0].contains("studio-token"),
        "{:?}",
        server.warnings()
    );
    assert_eq!(
        h.get("/api/manifest").await.status(),
        200,
        "the server works regardless"
    );
}
