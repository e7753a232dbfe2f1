//! `GET /healthz` and `GET /readyz`.

use serde::{Deserialize, Serialize};

/// `ok`, `ready`, or why the server is not ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
}
