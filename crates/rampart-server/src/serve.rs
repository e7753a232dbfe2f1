//! Accepting client connections, with the knobs `axum::serve` does not have: at most `max_connections`
//! open and `max_connections_per_ip` from one address (an IPv6 client: its /64), the others answered 503
//! and closed on arrival; request headers must arrive within `header_timeout`, which hyper also applies
//! while a keep-alive connection waits for its next request (an idle connection is closed); TLS handshakes
//! run in each connection's own task, within their timeout. Each request carries the client's address
//! (`ConnectInfo`). HTTP/1.1 only, served by hyper's connection builder.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use crate::api::extract::client_key;
use crate::config::ConnectionLimits;
use crate::state::AppState;

/// Sent to a connection refused for the caps, before closing it.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: 73\r\n\r\n{\"error\":\"busy\",\"message\":\"too many connections: retry in a few seconds\"}";

/// Open connections, in total and per client address.
#[derive(Default)]
struct Open {
    total: usize,
    by_addr: HashMap<IpAddr, usize>,
}

/// A connection counted in [`Open`] until dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    key: IpAddr,
    state: AppState,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.by_addr.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.by_addr.remove(&self.key);
            }
        }
        self.state.metrics.connections_open.dec();
    }
}

/// A slot for a connection from `ip`, or `None` when a cap is reached.
fn admit(
    open: &Arc<Mutex<Open>>,
    ip: IpAddr,
    limits: &ConnectionLimits,
    state: &AppState,
) -> Option<Slot> {
    let key = client_key(ip);
    let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
    let from_addr = o.by_addr.get(&key).copied().unwrap_or(0);
    if o.total >= limits.max_connections || from_addr >= limits.max_connections_per_ip {
        return None;
    }
    o.total += 1;
    *o.by_addr.entry(key).or_default() += 1;
    state.metrics.connections_open.inc();
    Some(Slot {
        open: open.clone(),
        key,
        state: state.clone(),
    })
}

/// Descriptors kept for everything but client connections: the database pool, notification channels,
/// and under `rampart up` the agent's eBPF objects and /proc reads.
const RESERVED_FILES: usize = 512;

/// `max_connections`, lowered to what the open-file limit allows (past it, `accept` fails for everyone).
fn within_open_files(max_connections: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return max_connections;
    }
    let allowed = (lim.rlim_cur as usize)
        .saturating_sub(RESERVED_FILES)
        .max(16);
    if max_connections > allowed {
        tracing::warn!(
            "serving at most {allowed} connections, not {max_connections}: the open-file limit is {} \
             (raise it, e.g. LimitNOFILE= in the service unit)",
            lim.rlim_cur
        );
        return allowed;
    }
    max_connections
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish their
/// requests (each is told to close after its current one).
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut limits = state.config.connections.clone();
    limits.max_connections = within_open_files(limits.max_connections);
    let open = Arc::new(Mutex::new(Open::default()));
    let (closing_tx, closing_rx) = watch::channel(false);
    // Each connection task holds a sender: `recv` returns `None` once all of them have ended.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, typically: wait for connections to close.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = admit(&open, peer.ip(), &limits, &state) else {
            state.metrics.connections_refused.inc();
            if tls.is_none() {
                // Best effort, never waiting: the socket buffer of a fresh connection has room.
                let _ = tcp.try_write(REFUSED);
            }
            continue;
        };
        let connection = Connection {
            peer,
            app: app.clone(),
            limits: limits.clone(),
            closing: closing_rx.clone(),
        };
        let tls = tls.clone();
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _alive = alive;
            let _ = tcp.set_nodelay(true);
            match tls {
                None => connection.serve(tcp).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        connection.limits.tls_handshake_timeout,
                        acceptor.accept(tcp),
                    );
                    match handshake.await {
                        Ok(Ok(stream)) => connection.serve(stream).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake from {peer}: {e}"),
                        Err(_) => tracing::debug!("TLS handshake from {peer} timed out"),
                    }
                }
            }
        });
    }
    drop(alive_tx);
    let _ = closing_tx.send(true);
    let _ = alive_rx.recv().await;
    Ok(())
}

struct Connection {
    peer: SocketAddr,
    app: axum::Router,
    limits: ConnectionLimits,
    closing: watch::Receiver<bool>,
}

impl Connection {
    async fn serve<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (peer, app) = (self.peer, self.app.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            _ = async { self.closing.wait_for(|c| *c).await.map(|_| ()) } => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!("connection from {peer}: {e}");
        }
    }
}
