//! REST handlers of remote configuration: the configuration and its history (viewers), changes and rollback
//! (admins), validation and testing (responders), and the agents' long poll and status reports.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_api::config::{
    ConfigRevision, CustomRuleDetail, CustomRuleList, CustomRuleRequest, DefaultPolicyRequest,
    Fleet, OverrideRequest, PolicyDetail, PolicyRequest, PublicKey, Published, ReplayMatch,
    RevisionList, RollbackRequest, TestRequest, TestResult, ValidateRequest, ValidateResult,
};
use rampart_api::error::ErrorBody;
use serde::Deserialize;
use serde_json::Value;
use sqlx::Row;

use super::snapshot::{CustomRule, Snapshot, StoredOverride, StoredPolicy, Suppression};
use super::{store, validate};
use crate::api::extract::{ApiJson, ApiQuery, Id, Name};
use crate::auth::extract::{Admin, Agent, Responder, Viewer};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::now_ns;

/// Policy names, rule ids and tags: short, printable, no separators that mean something in YAML or URLs.
fn check_name(what: &str, s: &str) -> ApiResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "{what} `{s}`: 1-128 characters among letters, digits, `_`, `.` and `-`"
        )))
    }
}

/// Rule ids as the policy loader accepts them.
pub(crate) fn check_rule_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "rule id `{id}`: 1-128 letters, digits or `_`"
        )))
    }
}

fn check_tags(tags: &[String]) -> ApiResult<()> {
    if tags.len() > 32 {
        return Err(ApiError::unprocessable("at most 32 target tags"));
    }
    for t in tags {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-:/=".contains(&b));
        if !ok {
            return Err(ApiError::unprocessable(format!(
                "tag `{t}`: 1-128 characters among letters, digits and `_.-:/=`"
            )));
        }
    }
    Ok(())
}

/// The longest an agent's configuration request waits for a new revision.
pub const MAX_LONG_POLL: Duration = Duration::from_secs(60);

/// 422 with the compiler's report, so a client can show every problem at once.
fn invalid(report: &validate::Report) -> Response {
    let summary: Vec<String> = report
        .problems
        .iter()
        .take(5)
        .map(|p| {
            if p.id.is_empty() {
                format!("policy {}: {}", p.policy, p.error)
            } else {
                format!("{}: {}", p.id, p.error)
            }
        })
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ErrorBody {
            error: "invalid".into(),
            message: format!("the configuration does not compile: {}", summary.join("; ")),
            problems: report.problems.clone(),
        }),
    )
        .into_response()
}

/// Stores `change` as a new revision if the result compiles (or `force`), and wakes the agents.
async fn publish(
    s: &AppState,
    caller: &Caller,
    summary: &str,
    force: bool,
    change: impl FnMut(&mut Snapshot) -> ApiResult<()>,
) -> ApiResult<Response> {
    // The report of the last configuration checked: the one stored, or the one refused.
    let checked: std::sync::Mutex<Option<validate::Report>> = Default::default();
    let result = store::commit(&s.db, &caller.into(), summary, change, |next| {
        let checked = &checked;
        async move {
            let report = validate::check(s, &next).await?;
            let accept = report.ok || force;
            *checked.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
            if accept {
                Ok(())
            } else {
                Err(ApiError::unprocessable(
                    "the configuration does not compile",
                ))
            }
        }
    })
    .await;
    let report = checked.into_inner().unwrap_or_else(|e| e.into_inner());
    match (result, report) {
        (Ok(r), report) => {
            s.remote.watch.notify(r.revision);
            Ok(Json(Published {
                revision: r.revision,
                report,
            })
            .into_response())
        }
        (Err(_), Some(report)) if !report.ok && !force => Ok(invalid(&report)),
        (Err(e), _) => Err(e),
    }
}

fn config_revision(r: store::Revision) -> ConfigRevision {
    ConfigRevision {
        revision: r.revision,
        author: r.author,
        summary: r.summary,
        created_at: r.created_at,
        include_default: r.snapshot.include_default,
        policies: r.snapshot.policies,
        custom_rules: r.snapshot.custom_rules,
        overrides: r.snapshot.overrides,
    }
}

pub async fn show(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<ConfigRevision>> {
    Ok(Json(config_revision(store::latest(&s.db).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    limit: Option<i64>,
}

pub async fn revisions(
    State(s): State<AppState>,
    _: Viewer,
    ApiQuery(q): ApiQuery<Limit>,
) -> ApiResult<Json<RevisionList>> {
    let revisions = store::list(&s.db, q.limit.unwrap_or(100)).await?;
    Ok(Json(RevisionList { revisions }))
}

pub async fn revision(
    State(s): State<AppState>,
    _: Viewer,
    Id(rev): Id,
) -> ApiResult<Json<ConfigRevision>> {
    Ok(Json(config_revision(store::get(&s.db, rev).await?)))
}

pub async fn public_key(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<PublicKey>> {
    let signer = s.remote.signer(&s.db).await?;
    Ok(Json(PublicKey {
        algorithm: "ed25519".into(),
        key: signer.public_hex(),
    }))
}

/// Makes the configuration of an earlier revision the newest one again (a new revision: history is kept).
pub async fn rollback(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(b): ApiJson<RollbackRequest>,
) -> ApiResult<Response> {
    let old = store::get(&s.db, b.revision).await?;
    let summary = format!("rollback to revision {}", b.revision);
    // What ran before is restored as it was, compiling or not: it is what the agents had.
    publish(&s, &caller, &summary, true, |next| {
        *next = old.snapshot.clone();
        Ok(())
    })
    .await
}

pub async fn set_default(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(b): ApiJson<DefaultPolicyRequest>,
) -> ApiResult<Response> {
    let summary = if b.include_default {
        "default policy on"
    } else {
        "default policy off"
    };
    publish(&s, &caller, summary, false, |next| {
        next.include_default = b.include_default;
        Ok(())
    })
    .await
}

const MAX_POLICY_BYTES: usize = 1 << 20;

pub async fn put_policy(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(name): Name,
    ApiJson(b): ApiJson<PolicyRequest>,
) -> ApiResult<Response> {
    check_name("policy name", &name)?;
    check_tags(&b.target_tags)?;
    if b.content.len() > MAX_POLICY_BYTES {
        return Err(ApiError::too_large("a policy is at most 1 MiB"));
    }
    if b.description.len() > 4096 {
        return Err(ApiError::unprocessable("description: at most 4096 bytes"));
    }
    let summary = format!("policy {name} updated");
    let policy = StoredPolicy {
        content: b.content,
        description: b.description,
        target_tags: b.target_tags,
        updated_by: caller.username.clone(),
        updated_at: now_ns(),
    };
    publish(&s, &caller, &summary, b.force, |next| {
        next.policies.insert(name.clone(), policy.clone());
        Ok(())
    })
    .await
}

pub async fn get_policy(
    State(s): State<AppState>,
    _: Viewer,
    Name(name): Name,
) -> ApiResult<Json<PolicyDetail>> {
    let r = store::latest(&s.db).await?;
    let policy = r
        .snapshot
        .policies
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("no policy {name:?}")))?
        .clone();
    Ok(Json(PolicyDetail {
        name,
        revision: r.revision,
        policy,
    }))
}

pub async fn delete_policy(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(name): Name,
) -> ApiResult<Response> {
    let summary = format!("policy {name} deleted");
    publish(&s, &caller, &summary, true, |next| {
        next.policies
            .remove(&name)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(format!("no policy {name:?}")))
    })
    .await
}

/// Compiles a policy together with the current configuration, storing nothing.
pub async fn validate_policy(
    State(s): State<AppState>,
    _: Responder,
    ApiJson(b): ApiJson<ValidateRequest>,
) -> ApiResult<Json<ValidateResult>> {
    if b.content.len() > MAX_POLICY_BYTES {
        return Err(ApiError::too_large("a policy is at most 1 MiB"));
    }
    let r = store::latest(&s.db).await?;
    let name = b.name.unwrap_or_else(|| "candidate".into());
    let mut policies: Vec<(String, String)> = r
        .snapshot
        .all_policies()
        .into_iter()
        .filter(|(n, _)| *n != name)
        .collect();
    policies.push((name, b.content));
    let report = validate::check_policies(&s, r.snapshot.include_default, policies).await?;
    Ok(Json(ValidateResult { report }))
}

fn custom_rule(b: &CustomRuleRequest, author: &str) -> ApiResult<CustomRule> {
    let severity = b.severity.clone().unwrap_or_else(|| "medium".into());
    if !crate::ingest::validate::SEVERITIES.contains(&severity.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "severity `{severity}`: one of {:?}",
            crate::ingest::validate::SEVERITIES
        )));
    }
    check_tags(&b.target_tags)?;
    if b.expression.len() > 64 * 1024 || b.description.len() > 4096 || b.remediation.len() > 8192 {
        return Err(ApiError::unprocessable(
            "expression at most 64 KiB, description 4 KiB, remediation 8 KiB",
        ));
    }
    if b.tags.len() > 32 || b.tags.iter().any(|(k, v)| k.len() > 64 || v.len() > 256) {
        return Err(ApiError::unprocessable(
            "at most 32 tags, keys 64 bytes, values 256",
        ));
    }
    Ok(CustomRule {
        expression: b.expression.clone(),
        description: b.description.clone(),
        severity,
        tags: b.tags.clone(),
        remediation: b.remediation.clone(),
        enabled: b.enabled.unwrap_or(true),
        target_tags: b.target_tags.clone(),
        updated_by: author.into(),
        updated_at: now_ns(),
    })
}

pub async fn list_custom_rules(
    State(s): State<AppState>,
    _: Viewer,
) -> ApiResult<Json<CustomRuleList>> {
    let r = store::latest(&s.db).await?;
    Ok(Json(CustomRuleList {
        revision: r.revision,
        rules: r.snapshot.custom_rules,
    }))
}

pub async fn get_custom_rule(
    State(s): State<AppState>,
    _: Viewer,
    Name(id): Name,
) -> ApiResult<Json<CustomRuleDetail>> {
    let r = store::latest(&s.db).await?;
    let rule = r
        .snapshot
        .custom_rules
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no custom rule {id:?}")))?
        .clone();
    Ok(Json(CustomRuleDetail { id, rule }))
}

pub async fn put_custom_rule(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(id): Name,
    ApiJson(b): ApiJson<CustomRuleRequest>,
) -> ApiResult<Response> {
    check_rule_id(&id)?;
    let rule = custom_rule(&b, &caller.username)?;
    let summary = format!("custom rule {id} updated");
    publish(&s, &caller, &summary, b.force, |next| {
        next.custom_rules.insert(id.clone(), rule.clone());
        Ok(())
    })
    .await
}

pub async fn delete_custom_rule(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(id): Name,
) -> ApiResult<Response> {
    let summary = format!("custom rule {id} deleted");
    publish(&s, &caller, &summary, true, |next| {
        next.custom_rules
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(format!("no custom rule {id:?}")))
    })
    .await
}

/// Where [`expression_policy`] puts the expression: its first line is this line of the file, and every
/// expression line is indented by [`EXPRESSION_INDENT`] columns (a literal block scalar, taken verbatim),
/// so a compiler position `file:line:col` maps back to the expression's own line and column.
pub const EXPRESSION_FIRST_LINE: usize = 5;
pub const EXPRESSION_INDENT: usize = 6;

/// A one-rule policy file holding `expression` as rule `id` (to validate or test a lone expression).
pub fn expression_policy(id: &str, expression: &str) -> ApiResult<String> {
    let id = serde_json::to_string(id).map_err(ApiError::internal)?;
    let mut text = format!("version: 1.0.0\nrules:\n  - id: {id}\n    expression: |-\n");
    let pad = " ".repeat(EXPRESSION_INDENT);
    for line in expression.lines() {
        text.push_str(&pad);
        text.push_str(line.trim_end_matches('\r'));
        text.push('\n');
    }
    if expression.trim().is_empty() {
        text.push_str(&pad);
        text.push_str("\"\"\n");
    }
    Ok(text)
}

/// Evaluates candidate rules over the most recent events agents reported (each stored match carries its
/// event), without storing or publishing anything.
pub async fn test_rules(
    State(s): State<AppState>,
    _: Responder,
    ApiJson(b): ApiJson<TestRequest>,
) -> ApiResult<Json<TestResult>> {
    let content = match (b.content, b.expression) {
        (Some(c), None) => c,
        (None, Some(e)) => expression_policy("candidate", &e)?,
        _ => {
            return Err(ApiError::unprocessable(
                "give either `content` (a policy) or `expression` (one rule)",
            ))
        }
    };
    if content.len() > MAX_POLICY_BYTES {
        return Err(ApiError::too_large("a policy is at most 1 MiB"));
    }
    let include_default = store::latest(&s.db).await?.snapshot.include_default;
    let report = validate::check_policies(
        &s,
        include_default,
        vec![("candidate".into(), content.clone())],
    )
    .await?;
    let limit = b.limit.unwrap_or(1000).clamp(1, 10_000);
    let rows = sqlx::query("SELECT id, body FROM matches ORDER BY id DESC LIMIT $1")
        .bind(limit)
        .fetch_all(&s.db.pool)
        .await?;
    let bodies: Vec<(i64, String)> = rows
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("body")?)))
        .collect::<ApiResult<_>>()?;
    let budget = s.config.limits.compile_budget;
    let outcome = s
        .compile_gate
        .run(move || replay(&content, &bodies, Instant::now() + budget))
        .await?;
    Ok(Json(TestResult {
        report,
        events: outcome.events,
        unreadable: outcome.unreadable,
        matches: outcome.matches,
    }))
}

struct Replay {
    events: usize,
    unreadable: usize,
    matches: Vec<ReplayMatch>,
}

/// Only the candidate policy's own rules are evaluated (without the default policy's), so the matches
/// are what the candidate adds. Compiling stops at `deadline`.
fn replay(content: &str, bodies: &[(i64, String)], deadline: Instant) -> Replay {
    let src = rampart_policy::PolicySource {
        name: "candidate".into(),
        file: "candidate".into(),
        text: content.into(),
    };
    let options = rampart_policy::LoadOptions {
        deadline: Some(deadline),
        ..Default::default()
    };
    let loaded = rampart_policy::load_sources(&[src], &options);
    let store = rampart_secl::MemoryStore::new();
    let mut out = Replay {
        events: 0,
        unreadable: 0,
        matches: Vec::new(),
    };
    for (match_id, body) in bodies {
        let Ok(event) = serde_json::from_str::<rampart_model::Event>(body) else {
            out.unreadable += 1;
            continue;
        };
        out.events += 1;
        for m in loaded.ruleset.evaluate(&event, &store) {
            if out.matches.len() < 200 {
                out.matches.push(ReplayMatch {
                    rule_id: m.rule.id.clone(),
                    stored_match: *match_id,
                    event: rampart_policy::to_json(&m, &event),
                });
            }
        }
    }
    out
}

/// Disables a rule (of any policy, the default one included) on the agents targeted.
pub async fn put_override(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(rule_id): Name,
    ApiJson(b): ApiJson<OverrideRequest>,
) -> ApiResult<Response> {
    check_rule_id(&rule_id)?;
    check_tags(&b.target_tags)?;
    let summary = format!(
        "rule {rule_id} {}",
        if b.disabled { "disabled" } else { "enabled" }
    );
    publish(&s, &caller, &summary, false, |next| {
        let o = next.overrides.entry(rule_id.clone()).or_default();
        o.disabled = b.disabled;
        o.target_tags = b.target_tags.clone();
        o.updated_by = caller.username.clone();
        o.updated_at = now_ns();
        prune(next, &rule_id);
        Ok(())
    })
    .await
}

/// An override that does nothing any more goes away.
fn prune(next: &mut Snapshot, rule_id: &str) {
    if next
        .overrides
        .get(rule_id)
        .is_some_and(|o: &StoredOverride| !o.disabled && o.suppressions.is_empty())
    {
        next.overrides.remove(rule_id);
    }
}

pub async fn delete_override(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(rule_id): Name,
) -> ApiResult<Response> {
    let summary = format!("overrides of rule {rule_id} removed");
    publish(&s, &caller, &summary, true, |next| {
        next.overrides
            .remove(&rule_id)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(format!("no override for rule {rule_id:?}")))
    })
    .await
}

/// Adds a suppression to a rule (issue 10's accepted suggestions go through here too).
pub async fn add_suppression(
    s: &AppState,
    caller: &Caller,
    rule_id: &str,
    suppression: Suppression,
) -> ApiResult<Response> {
    check_rule_id(rule_id)?;
    let summary = format!("suppression added to rule {rule_id}");
    publish(s, caller, &summary, false, |next| {
        next.overrides
            .entry(rule_id.to_string())
            .or_default()
            .suppressions
            .push(suppression.clone());
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// The revision the agent runs; absent on its first poll (then the newest bundle comes at once).
    #[serde(default)]
    since: Option<i64>,
    /// Seconds to wait for a newer one (at most 60; default 30).
    #[serde(default)]
    wait: Option<u64>,
    /// Bind the bundle to the calling agent and give it an expiry (every current agent asks; older
    /// agents refuse the two extra fields, so they get bundles without them).
    #[serde(default)]
    bound: bool,
}

/// How long a bound bundle stays fresh: an agent refuses one held back longer (it long-polls for newer
/// revisions, each issued at once, so a fresh bundle never waits this long).
const BUNDLE_TTL_NS: i64 = 3600 * 1_000_000_000;

/// An agent's long poll: the signed bundle of the newest revision if it is newer than `since`, else 204
/// once `wait` seconds pass without a change.
pub async fn agent_config(
    State(s): State<AppState>,
    Agent(agent): Agent,
    ApiQuery(q): ApiQuery<Poll>,
) -> ApiResult<Response> {
    let latest = match q.since {
        None => store::latest_number(&s.db).await?,
        Some(since) => {
            let wait = Duration::from_secs(q.wait.unwrap_or(30)).min(MAX_LONG_POLL);
            let latest = s.remote.watch.wait_newer(&s.db, since, wait).await?;
            if latest <= since {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            latest
        }
    };
    let r = store::get(&s.db, latest).await?;
    let tags = store::agent_tags(&s.db, agent.agent_id).await?;
    let profiles =
        crate::profiles::store::bundle_profiles(&s.db, &r.snapshot.stable_profiles).await?;
    let now = now_ns();
    let mut bundle = r.snapshot.bundle_for(r.revision, now, &tags, profiles);
    if q.bound {
        bundle.agent_id = Some(agent.agent_id);
        bundle.expires_at = Some(now + BUNDLE_TTL_NS);
    }
    let signer = s.remote.signer(&s.db).await?;
    Ok(Json(signer.sign(&bundle)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    revision: i64,
    /// `applied`, `failed` (kept its previous rules) or `refused` (bad signature).
    status: String,
    #[serde(default)]
    errors: Vec<Value>,
}

pub async fn agent_status(
    State(s): State<AppState>,
    Agent(agent): Agent,
    ApiJson(b): ApiJson<AgentStatus>,
) -> ApiResult<StatusCode> {
    if !["applied", "failed", "refused"].contains(&b.status.as_str()) {
        return Err(ApiError::unprocessable(
            "status: applied, failed or refused",
        ));
    }
    if b.errors.len() > 1000 || b.errors.iter().any(|e| e.to_string().len() > 4096) {
        return Err(ApiError::unprocessable("at most 1000 errors of 4 KiB each"));
    }
    store::set_agent_status(
        &s.db,
        agent.agent_id,
        b.revision,
        &b.status,
        &Value::Array(b.errors),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Each agent's tags, configuration revision and status, with the newest revision for comparison.
pub async fn fleet(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<Fleet>> {
    Ok(Json(Fleet {
        revision: store::latest_number(&s.db).await?,
        agents: store::fleet(&s.db).await?,
    }))
}
