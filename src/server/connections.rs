//! Accepting and serving connections within limits: a client that never finishes its request
//! headers is cut off, and the server never holds so many sockets that the rest of arkor (the
//! watcher, Rolldown reading the module graph, the inspector, the runs' pipes, the log file)
//! runs out of file descriptors.
//!
//! - **Header-read timeout**: a connection must deliver a complete request head within
//!   [`HEADER_READ_TIMEOUT`] of starting it, and an idle keep-alive connection is closed after
//!   the same time (hyper arms the timer whenever it waits for a new head).
//! - **Connection cap**: at most [`connection_cap`] connections are served at once, derived
//!   from the open-file limit so a reserve stays free for everything else. Further clients
//!   wait in the kernel's listen backlog until a connection closes: they are slowed down, never
//!   refused, and accepting them cannot fail with "Too many open files".

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

/// How long a client may take to send a request's headers, and how long an idle keep-alive
/// connection stays open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// File descriptors the server never takes, at the least: the build reads every module of
/// the graph, the inspector and each run hold pipes, and the watcher, the log file and the
/// runtime hold a few more.
const MIN_FD_RESERVE: u64 = 256;
/// The cap is never higher than this, however high the limit (a loopback dev server serves
/// a few browser tabs; this leaves room for thousands of event streams).
const MAX_CONNECTIONS: usize = 4096;
/// Nor lower than this, so a tiny limit still lets a few tabs in.
const MIN_CONNECTIONS: usize = 8;
/// Clients waiting for a slot queue in the kernel, where they cost no descriptor.
const LISTEN_BACKLOG: u32 = 1024;
/// After a failed `accept` (e.g. the whole process ran out of descriptors): a pause before
/// the next try, so the loop does not spin while something else frees one.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Connections served at once for an open-file limit: a quarter of the limit (at least
/// [`MIN_FD_RESERVE`]) stays in reserve, and each connection is counted twice because a cloud
/// route may hold an upstream socket for it.
pub fn connection_cap(open_file_limit: u64) -> usize {
    let reserve = (open_file_limit / 4).max(MIN_FD_RESERVE);
    let per_connection = 2;
    let usable = open_file_limit.saturating_sub(reserve) / per_connection;
    usize::try_from(usable)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The soft open-file limit of this process (`RLIMIT_NOFILE`), if it can be read.
pub fn open_file_limit() -> Option<u64> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _hard)| soft)
}

/// A listening socket on `addr` with a backlog deep enough for the clients the cap holds back.
pub(super) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The limits shared by every listener of one server.
#[derive(Clone)]
pub(super) struct Limits {
    /// One permit per connection being served.
    pub permits: Arc<Semaphore>,
    pub header_read_timeout: Duration,
}

impl Limits {
    pub fn new(max_connections: usize, header_read_timeout: Duration) -> Limits {
        Limits {
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            header_read_timeout,
        }
    }
}

/// Accept connections on the listeners until `closed` turns true, then let open connections
/// finish gracefully (the caller aborts this task if they take too long). One loop for all
/// listeners, so the slot it waits for goes to whichever listener has the next client.
pub(super) async fn serve(
    listeners: Vec<TcpListener>,
    app: Router,
    limits: Limits,
    mut closed: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        // The slot first: at the cap, the next client stays in the backlog, unaccepted.
        let permit = tokio::select! {
            biased;
            _ = shutdown_began(&mut closed) => break,
            permit = limits.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            _ = shutdown_began(&mut closed) => break,
            accepted = accept_any(&listeners) => match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    if !is_connection_error(&e) {
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    }
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(serve_connection(
            stream,
            app.clone(),
            limits.header_read_timeout,
            closed.clone(),
            permit,
        ));
    }
    drop(listeners);
    while connections.join_next().await.is_some() {}
}

/// The next connection on any of `listeners`.
async fn accept_any(listeners: &[TcpListener]) -> std::io::Result<TcpStream> {
    if listeners.is_empty() {
        return std::future::pending().await;
    }
    let accepts = listeners.iter().map(|l| Box::pin(l.accept()));
    let (accepted, _index, _others) = futures::future::select_all(accepts).await;
    accepted.map(|(stream, _peer)| stream)
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    header_read_timeout: Duration,
    mut closed: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("connection ended with an error: {e}");
            }
        }
        _ = shutdown_began(&mut closed) => {
            // Finish the request in flight, then close; open bodies end on their own.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Resolves once the server began shutting down (or its sender is gone).
async fn shutdown_began(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|c| *c).await;
}

/// Errors of one client's connection attempt, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_reserve_for_the_build() {
        // A common default soft limit: a quarter kept back, two descriptors per connection.
        assert_eq!(connection_cap(1024), (1024 - 256) / 2);
        // A low limit still keeps the minimum reserve.
        assert_eq!(connection_cap(512), (512 - 256) / 2);
        for limit in [300, 1024, 4096, 20_000] {
            let cap = connection_cap(limit) as u64;
            assert!(limit - 2 * cap >= MIN_FD_RESERVE, "{limit}: {cap}");
        }
        // High limits stop at the maximum; absurd ones keep a floor.
        assert_eq!(connection_cap(1 << 20), MAX_CONNECTIONS);
        assert_eq!(connection_cap(u64::MAX), MAX_CONNECTIONS);
        assert_eq!(connection_cap(64), MIN_CONNECTIONS);
    }
}
