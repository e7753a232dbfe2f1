//! Health, readiness, the placeholder UI page, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use rampart_api::health::Health;

use crate::auth::extract::Viewer;
use crate::state::AppState;

fn status(s: &str) -> Json<Health> {
    Json(Health { status: s.into() })
}

pub async fn health() -> Json<Health> {
    status("ok")
}

pub async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    match sqlx::query("SELECT 1").execute(&s.db.pool).await {
        Ok(_) => (StatusCode::OK, status("ready")),
        Err(e) => {
            tracing::warn!("readiness: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                status("database unavailable"),
            )
        }
    }
}

/// The web UI lives under `/ui/`.
pub async fn index() -> axum::response::Redirect {
    axum::response::Redirect::to("/ui/")
}

/// The document is JSON built from the route table and the types' schemas (an OpenAPI document: its own
/// schema, not one of ours).
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Json(super::openapi::document()),
    )
}

pub async fn metrics(State(s): State<AppState>, _: Viewer) -> impl IntoResponse {
    let mut out = String::new();
    s.metrics
        .render(&mut out, s.db.pool.size(), s.db.pool.num_idle());
    let sources = s
        .extra_metrics
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    for source in sources {
        source(&mut out);
    }
    ([(header::CONTENT_TYPE, rampart_metrics::CONTENT_TYPE)], out)
}
