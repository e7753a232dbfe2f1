//! State shared by every request handler.

use std::sync::Arc;

use crate::backend_rules::Registry;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::remote_config::catalogue::Catalogue;
use crate::storage::Db;

/// Extra metrics text appended to `/metrics` (e.g. the agent's, when `rampart up` runs both).
pub type MetricsSource = rampart_metrics::Render;

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

/// Remote configuration's shared state: who waits for changes, the signing key once loaded, and the rules
/// the newest configuration defines.
#[derive(Default)]
pub struct RemoteState {
    pub watch: crate::remote_config::ConfigWatch,
    signer: tokio::sync::OnceCell<rampart_policy::bundle::BundleSigner>,
    catalogue: tokio::sync::Mutex<Option<Arc<Catalogue>>>,
}

impl RemoteState {
    /// The agent rules of the newest configuration (rebuilt when a newer revision exists).
    pub async fn catalogue(&self, db: &Db) -> crate::error::ApiResult<Arc<Catalogue>> {
        let latest = crate::remote_config::store::latest_number(db).await?;
        let mut cached = self.catalogue.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.revision == latest) {
            return Ok(c.clone());
        }
        let r = crate::remote_config::store::get(db, latest).await?;
        let built = tokio::task::spawn_blocking(move || Catalogue::build(r.revision, &r.snapshot))
            .await
            .map_err(crate::error::ApiError::internal)?;
        let built = Arc::new(built);
        *cached = Some(built.clone());
        Ok(built)
    }

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
