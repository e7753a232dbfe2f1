//! The body of every 4xx/5xx answer.

use serde::{Deserialize, Serialize};

use crate::config::Problem;

/// `{error, message}`, and for a configuration that does not compile, every problem at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable code (`invalid`, `not_found`, `forbidden`, ...).
    pub error: String,
    /// The reason, for a human.
    pub message: String,
    /// Absent from every error but a refused configuration.
    #[serde(default)]
    pub problems: Vec<Problem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_shape_the_server_sends_decodes() {
        // Most errors: `{error, message}` (rampart-server's ApiError).
        let e: ErrorBody =
            serde_json::from_str(r#"{"error":"not_found","message":"no policy \"x\""}"#).unwrap();
        assert!(e.problems.is_empty() && e.message == "no policy \"x\"");
        // A refused configuration also lists its problems.
        let e: ErrorBody = serde_json::from_str(
            r#"{"error":"invalid","message":"m","problems":[{"policy":"p","id":"r","error":"bad"}]}"#,
        )
        .unwrap();
        assert_eq!(e.problems[0].id, "r");
    }
}
