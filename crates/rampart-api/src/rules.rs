//! Rules as the server shows them: the agent rules its configuration defines (and, apart, what agents
//! report about theirs), and backend detection rules (`/api/v1/rules…`, `/api/v1/backend-rules…`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An agent rule's metadata, as the server's configuration defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleMeta {
    pub id: String,
    pub version: String,
    pub description: String,
    pub severity: String,
    pub tags: BTreeMap<String, String>,
    pub remediation: String,
    /// The policy that defines it.
    pub policy: String,
}

/// `GET /api/v1/rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleList {
    /// The configuration revision the rules come from.
    pub revision: i64,
    pub rules: Vec<RuleMeta>,
}

/// What one agent reported about one of its loaded rules: its word, never verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentRuleReport {
    pub agent_id: i64,
    pub hostname: String,
    /// Always false: the server cannot check what an agent says of its rules.
    pub verified: bool,
    pub version: String,
    pub description: String,
    pub severity: String,
    /// As the agent sent them (an object; null if the stored text no longer parses).
    pub tags: Value,
    pub remediation: String,
    pub policy: String,
    pub updated_at: i64,
}

/// `GET /api/v1/rules/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleDetail {
    /// The server's definition (null if its configuration does not define the rule).
    pub rule: Option<RuleMeta>,
    pub agent_reports: Vec<AgentRuleReport>,
}

/// A backend detection rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackendRule {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `threshold`, `new_value`, `sequence`, ...
    pub method: String,
    /// `default`, `file` or `custom`.
    pub origin: String,
    pub enabled: bool,
    pub remediation: String,
    /// The rule as its file defines it (the backend rule language, which the server's rule loader owns
    /// and checks itself).
    pub spec: Value,
}

/// One rule's load failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadError {
    pub id: String,
    pub error: String,
}

/// `GET /api/v1/backend-rules`: those in force first, then the disabled ones, and the custom rules that
/// fail to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackendRuleList {
    pub rules: Vec<BackendRule>,
    pub errors: Vec<LoadError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackendRuleDetail {
    pub rule: BackendRule,
}

/// `PATCH /api/v1/backend-rules/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BackendRulePatch {
    pub enabled: bool,
}

/// `POST /api/v1/backend-rules/validate`: the ids of the valid rules, and why the others are not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackendValidation {
    pub valid: Vec<String>,
    pub errors: Vec<LoadError>,
}

/// `POST /api/v1/backend-rules`: the ids stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackendStored {
    pub stored: Vec<String>,
}

/// A problem of a backend rule file as an editor shows it: the rule's id when one is known (empty for the
/// file), the reason, and where (1-based) when known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleFileProblem {
    pub rule: String,
    pub error: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// The web UI's check of a backend rule file as you type: the check storing it would make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleFileCheck {
    pub ok: bool,
    /// The valid rules' ids.
    pub valid: Vec<String>,
    pub problems: Vec<RuleFileProblem>,
    pub warnings: Vec<RuleFileProblem>,
}

/// A compiler message about an agent rule expression, and where in the expression (1-based) when known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExpressionProblem {
    pub error: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// The web UI's check of one agent rule expression as you type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExpressionCheck {
    pub ok: bool,
    pub problems: Vec<ExpressionProblem>,
    pub warnings: Vec<ExpressionProblem>,
}
