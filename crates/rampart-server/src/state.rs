//! State shared by every request handler.

use std::sync::Arc;

use crate::backend_rules::Registry;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::storage::Db;

/// Extra metrics text appended to `/metrics` (e.g. the agent's, when `rampart up` runs both).
pub type MetricsSource = Arc<dyn Fn(&mut String) + Send + Sync>;

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub config: ServerConfig,
    pub metrics: Metrics,
    pub rules: Registry,
    pub notify: crate::notify::Service,
    pub extra_metrics: std::sync::Mutex<Vec<MetricsSource>>,
    pub remote: RemoteState,
    /// The key signing the login form's CSRF tokens (`ui::login_csrf`), loaded on first use.
    pub login_key: tokio::sync::OnceCell<Vec<u8>>,
    /// Failed sign-ins per user name and client address (backoff, lockout).
    pub login_guard: crate::auth::login_guard::LoginGuard,
    /// Policy compiles (validation before publishing, tests of candidate rules): off the async workers,
    /// a few at a time.
    pub compile_gate: crate::blocking::BlockingGate,
}

/// Remote configuration's shared state: who waits for changes, and the signing key once loaded.
#[derive(Default)]
pub struct RemoteState {
    pub watch: crate::remote_config::ConfigWatch,
    signer: tokio::sync::OnceCell<rampart_policy::bundle::BundleSigner>,
}

impl RemoteState {
    pub async fn signer(
        &self,
        db: &Db,
    ) -> crate::error::ApiResult<&rampart_policy::bundle::BundleSigner> {
        self.signer
            .get_or_try_init(|| crate::remote_config::signing::load_or_create(db))
            .await
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
