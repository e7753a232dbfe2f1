//! Rampart's backend: agents report rule matches (`POST /api/v1/ingest`), the server stores them once each,
//! groups them into signals, runs backend detection rules over them, and serves a REST API to explore and
//! triage signals and to manage rules, agents and users. Storage is SQLite (embedded) or PostgreSQL
//! (replicas share one database: all shared state lives in it).

pub mod api;
pub mod audit;
pub mod auth;
pub mod backend_rules;
pub mod blocking;
pub mod bootstrap;
pub mod config;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod profiles;
pub mod remote_config;
pub mod retention;
mod serve;
pub mod signals;
mod sql;
pub mod state;
pub mod storage;
pub mod tls;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
pub use config::ServerConfig;
pub use state::{AppState, MetricsSource};

/// Connects to the database (running migrations) and loads the backend rules.
pub async fn build_state(config: ServerConfig) -> anyhow::Result<AppState> {
    let sealer = match config.secrets_key_path()? {
        Some(path) => storage::sealed::Sealer::load_or_create(&path)?,
        None => storage::sealed::Sealer::ephemeral()?,
    };
    let db = storage::Db::connect(&config.database_url)
        .await?
        .with_sealer(sealer);
    storage::secrets::prepare(&db).await?;
    let (rules, errors) =
        backend_rules::Registry::load(config.default_backend_rules, &config.backend_rule_files)?;
    for e in &errors {
        tracing::warn!("backend rule {} skipped: {}", e.id, e.error);
        eprintln!("rampart: backend rule {} skipped: {}", e.id, e.error);
    }
    let notify = notify::Service::new(&config.notifications)?;
    let login_guard = auth::login_guard::LoginGuard::new(config.login.clone());
    let compile_gate = blocking::BlockingGate::new(
        "compile",
        "policy compiles",
        config.limits.compile_concurrency,
        config.limits.compile_budget,
    );
    Ok(AppState(Arc::new(state::Inner {
        db,
        notify,
        config,
        metrics: Default::default(),
        rules,
        extra_metrics: Default::default(),
        remote: Default::default(),
        login_key: Default::default(),
        login_guard,
        compile_gate,
    })))
}

/// A bound, not yet serving, server.
pub struct Server {
    state: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    pub async fn bind(config: ServerConfig) -> anyhow::Result<Server> {
        let tls = match &config.tls {
            Some(t) => Some(tls::acceptor(&t.cert, &t.key)?),
            None => None,
        };
        let listen = config.listen;
        let state = build_state(config).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        state
            .notify
            .set_listen_url(format!("{scheme}://{}", listener.local_addr()?));
        Ok(Server {
            state,
            listener,
            tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves, and delivers notifications, until `shutdown` completes; then lets the requests and deliveries
    /// in flight finish. Dropping this future instead (a crash) leaves unfinished deliveries to their leases.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = api::router(self.state.clone());
        let maintenance = tokio::spawn(profiles::maintain(self.state.clone()));
        let _stop_maintenance = AbortOnDrop(maintenance);
        let _stop_retention = AbortOnDrop(tokio::spawn(retention::run(self.state.clone())));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut serve_stop = stop_rx.clone();
        let stopped = async move {
            let _ = serve_stop.wait_for(|s| *s).await;
        };
        let serve = serve::serve(self.listener, self.tls, app, self.state.clone(), stopped);
        let worker = notify::worker::run(self.state.clone(), stop_rx);
        let trigger = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        let (served, _, _) = tokio::join!(serve, worker, trigger);
        served
    }
}

/// Aborts a background task when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
