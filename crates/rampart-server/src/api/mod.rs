//! The REST API. One table ([`routes`]) lists every route with the role it needs; the router and the
//! OpenAPI document are both built from it, and the security tests walk it.

pub(crate) mod admin;
pub(crate) mod agents;
pub mod extract;
mod misc;
pub mod openapi;
pub(crate) mod rules;
pub(crate) mod signals;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::Router;

use rampart_api::config::{
    ConfigRevision, CustomRuleDetail, CustomRuleList, CustomRuleRequest, DefaultPolicyRequest,
    Fleet, OverrideRequest, PolicyDetail, PolicyRequest, PublicKey, Published, RevisionList,
    RollbackRequest, TestRequest, TestResult, ValidateRequest, ValidateResult,
};

use rampart_api::agents::{
    AgentDetail, AgentList, EnrollRequest, EnrollResponse, RulesReport, RulesStored, StatusReport,
};
use rampart_api::ingest::{IngestAck, IngestBatch};
use rampart_api::profiles::{
    DumpDetail, DumpList, DumpRequest, ProfileDetail, ProfileList, SnapshotIngested, SnapshotList,
    SuggestionAnswer,
};

use rampart_api::audit::AuditPage;
use rampart_api::health::Health;
use rampart_api::notifications::{
    ChannelDetail, ChannelList, ChannelPatch, DeliveryDetail, DeliveryList, NewChannel,
    NotificationRuleBody, NotificationRuleDetail, NotificationRuleList, Preview, PreviewRequest,
    TestOutcome, TestSend,
};
use rampart_api::rules::{
    BackendRuleDetail, BackendRuleList, BackendRulePatch, BackendStored, BackendValidation,
    RuleDetail, RuleList,
};
use rampart_api::signals::{
    CommentCreated, CommentList, Histogram, NewComment, RelatedList, SignalDetail, SignalFacets,
    SignalList, SignalOne, SignalUpdate,
};
use rampart_api::users::{
    EnrollmentTokenCreated, EnrollmentTokenList, LoginRequest, Me, NewEnrollmentToken, NewToken,
    NewUser, Session, TokenCreated, TokenList, UserDetail, UserList, UserUpdate,
};

use crate::notify::api as notify;
use crate::profiles::api as pf;
use crate::remote_config::api as rc;
use crate::state::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential (health, login, the UI page, the OpenAPI document).
    Public,
    /// The enrollment token in the body is the credential.
    EnrollmentToken,
    Viewer,
    Responder,
    Admin,
    Agent,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::EnrollmentToken => "enrollment_token",
            Access::Viewer => "viewer",
            Access::Responder => "responder",
            Access::Admin => "admin",
            Access::Agent => "agent",
        }
    }
}

pub struct RouteDef {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// What the request body is, if any.
    pub body: Option<&'static str>,
    /// The `rampart_api` type of the request body, when it has one.
    pub request: Option<openapi::Schema>,
    /// The `rampart_api` type of the 200 answer, when it has one.
    pub response: Option<openapi::Schema>,
    pub handler: MethodRouter<AppState>,
}

impl RouteDef {
    /// A web UI route (`/ui/…`): session cookie instead of a Bearer token, HTML instead of JSON, CSRF token
    /// on every POST.
    pub fn is_ui(&self) -> bool {
        self.path == "/ui" || self.path.starts_with("/ui/")
    }

    /// The request body is a `T` (its schema goes into the OpenAPI document).
    fn accepts<T: rampart_api::utoipa::ToSchema>(mut self) -> Self {
        self.request = Some(openapi::Schema::of::<T>());
        self
    }

    /// The 200 answer is a `T` (its schema goes into the OpenAPI document).
    fn returns<T: rampart_api::utoipa::ToSchema>(mut self) -> Self {
        self.response = Some(openapi::Schema::of::<T>());
        self
    }
}

pub(crate) fn r(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    body: Option<&'static str>,
    handler: MethodRouter<AppState>,
) -> RouteDef {
    RouteDef {
        method,
        path,
        access,
        summary,
        body,
        request: None,
        response: None,
        handler,
    }
}

/// Every route of the server.
pub fn routes() -> Vec<RouteDef> {
    use Access::*;
    let mut routes = vec![
        r("GET", "/", Public, "Redirects to the web UI", None, get(misc::index)),
        r("GET", "/healthz", Public, "Liveness", None, get(misc::health)).returns::<Health>(),
        r("GET", "/readyz", Public, "Readiness (database reachable)", None, get(misc::ready)).returns::<Health>(),
        r("GET", "/api/openapi.json", Public, "This document", None, get(misc::openapi)),
        r("GET", "/metrics", Viewer, "Prometheus metrics (server, and agent under `rampart up`)", None, get(misc::metrics)),
        r("POST", "/api/v1/auth/login", Public, "Sign in; returns a session token", Some("{username, password}"), post(admin::login)).accepts::<LoginRequest>().returns::<Session>(),
        r("POST", "/api/v1/auth/logout", Viewer, "End the calling session", None, post(admin::logout)),
        r("GET", "/api/v1/auth/me", Viewer, "The caller's identity and role", None, get(admin::me)).returns::<Me>(),
        r("GET", "/api/v1/signals", Viewer, "List signals (filters: state, severity, rule_id, source, hostname, container_id, assignee, q, from, to; limit, offset)", None, get(signals::list)).returns::<SignalList>(),
        r("GET", "/api/v1/signals/facets", Viewer, "Counts per state, severity, rule, source, host and container for the filtered signals", None, get(signals::facets)).returns::<SignalFacets>(),
        r("GET", "/api/v1/signals/histogram", Viewer, "Signals per time bucket (`interval`, e.g. 1h) for the filtered signals", None, get(signals::histogram)).returns::<Histogram>(),
        r("GET", "/api/v1/signals/{id}", Viewer, "Signal detail: samples, rule and remediation, comments, related signals", None, get(signals::detail)).returns::<SignalDetail>(),
        r("PATCH", "/api/v1/signals/{id}", Responder, "Triage: set state (open, under_review, archived) and/or assignee (user id or null)", Some("{state?, assignee?}"), patch(signals::update)).accepts::<SignalUpdate>().returns::<SignalOne>(),
        r("GET", "/api/v1/signals/{id}/related", Viewer, "Related signals: same process tree, container or host within a window", None, get(signals::related)).returns::<RelatedList>(),
        r("GET", "/api/v1/signals/{id}/comments", Viewer, "Comments on a signal", None, get(signals::comments)).returns::<CommentList>(),
        r("POST", "/api/v1/signals/{id}/comments", Responder, "Comment on a signal", Some("{body}"), post(signals::add_comment)).accepts::<NewComment>().returns::<CommentCreated>(),
        r("GET", "/api/v1/rules", Viewer, "The agent rules the server's configuration defines (default policy, custom policies and rules, built-in), with their description, severity and remediation", None, get(rules::list)).returns::<RuleList>(),
        r("GET", "/api/v1/rules/{id}", Viewer, "One agent rule: the server's definition, and apart what agents reported about it (their word, not verified)", None, get(rules::get)).returns::<RuleDetail>(),
        r("GET", "/api/v1/backend-rules", Viewer, "Backend detection rules in force, and custom ones that fail to load", None, get(rules::list_backend)).returns::<BackendRuleList>(),
        r("POST", "/api/v1/backend-rules", Admin, "Add or replace custom backend rules (a YAML/JSON rule file; all valid or nothing stored)", Some("rule file: {rules: [...]}"), post(rules::create_backend)).returns::<BackendStored>(),
        r("POST", "/api/v1/backend-rules/validate", Admin, "Validate a backend rule file without storing it", Some("rule file: {rules: [...]}"), post(rules::validate)).returns::<BackendValidation>(),
        r("GET", "/api/v1/backend-rules/{id}", Viewer, "One backend rule", None, get(rules::get_backend)).returns::<BackendRuleDetail>(),
        r("PATCH", "/api/v1/backend-rules/{id}", Admin, "Enable or disable a backend rule (built-in or custom)", Some("{enabled}"), patch(rules::patch_backend)).accepts::<BackendRulePatch>(),
        r("DELETE", "/api/v1/backend-rules/{id}", Admin, "Delete a custom backend rule", None, delete(rules::delete_backend)),
        r("GET", "/api/v1/notifications/channels", Viewer, "Notification channels (secrets redacted)", None, get(notify::list_channels)).returns::<ChannelList>(),
        r("POST", "/api/v1/notifications/channels", Admin, "Create a channel: slack, pagerduty, webhook, email, teams or opsgenie", Some("{name, kind, config, enabled?, rate_per_minute?, template?: {title?, body?}}"), post(notify::create_channel)).accepts::<NewChannel>().returns::<ChannelDetail>(),
        r("GET", "/api/v1/notifications/channels/{id}", Viewer, "One channel (secrets redacted)", None, get(notify::get_channel)).returns::<ChannelDetail>(),
        r("PATCH", "/api/v1/notifications/channels/{id}", Admin, "Edit or disable a channel; secrets sent back as <redacted> are kept", Some("{name?, enabled?, rate_per_minute?, config?, template?}"), patch(notify::update_channel)).accepts::<ChannelPatch>().returns::<ChannelDetail>(),
        r("DELETE", "/api/v1/notifications/channels/{id}", Admin, "Delete a channel and its queued deliveries", None, delete(notify::delete_channel)),
        r("POST", "/api/v1/notifications/channels/{id}/test", Admin, "Send a test message now (a stored signal, or a made-up one); returns the receiver's answer", Some("{signal_id?}"), post(notify::test_channel)).accepts::<TestSend>().returns::<TestOutcome>(),
        r("GET", "/api/v1/notifications/rules", Viewer, "Notification rules", None, get(notify::list_rules)).returns::<NotificationRuleList>(),
        r("POST", "/api/v1/notifications/rules", Admin, "Create a rule: which signals (min_severity, sources, rule_ids, tags, hosts, containers, images, namespaces, events) notify which channels", Some("{name, channels: [id], enabled?, min_severity?, sources?, rule_ids?, tags?, hosts?, containers?, images?, namespaces?, events?, template?}"), post(notify::create_rule)).accepts::<NotificationRuleBody>().returns::<NotificationRuleDetail>(),
        r("GET", "/api/v1/notifications/rules/{id}", Viewer, "One rule", None, get(notify::get_rule)).returns::<NotificationRuleDetail>(),
        r("PATCH", "/api/v1/notifications/rules/{id}", Admin, "Edit or disable a rule (the fields given replace the stored ones)", Some("{name?, enabled?, channels?, min_severity?, …}"), patch(notify::update_rule)).accepts::<NotificationRuleBody>().returns::<NotificationRuleDetail>(),
        r("DELETE", "/api/v1/notifications/rules/{id}", Admin, "Delete a rule", None, delete(notify::delete_rule)),
        r("GET", "/api/v1/notifications/deliveries", Viewer, "Delivery log, newest first (filters: status, channel_id, signal_id; limit, offset)", None, get(notify::list_deliveries)).returns::<DeliveryList>(),
        r("GET", "/api/v1/notifications/deliveries/{id}", Viewer, "One delivery: status, attempts, last error, times", None, get(notify::get_delivery)).returns::<DeliveryDetail>(),
        r("POST", "/api/v1/notifications/deliveries/{id}/retry", Responder, "Queue a failed delivery again", None, post(notify::retry_delivery)).returns::<DeliveryDetail>(),
        r("POST", "/api/v1/notifications/preview", Viewer, "Render a template against a stored signal in every format (plain, slack, markdown, html)", Some("{signal_id, template?: {title?, body?}, channel_id?, event?}"), post(notify::preview)).accepts::<PreviewRequest>().returns::<Preview>(),
        r("POST", "/api/v1/agents/enroll", EnrollmentToken, "Exchange an enrollment token for an agent credential", Some("{token, hostname, version?, tags?}"), post(agents::enroll)).accepts::<EnrollRequest>().returns::<EnrollResponse>(),
        r("POST", "/api/v1/ingest", Agent, "Report a batch of rule matches (gzip or identity); idempotent per (agent, event id, rule id)", Some("{matches: [match, ...]} (Content-Encoding: gzip)"), post(agents::ingest)).accepts::<IngestBatch>().returns::<IngestAck>(),
        r("PUT", "/api/v1/agents/rules", Agent, "Report the metadata of the agent's loaded rules (kept as this agent's report, never shown as the rule's)", Some("{rules: [{id, version, description, severity, tags, remediation, policy}]}"), put(agents::report_rules)).accepts::<RulesReport>().returns::<RulesStored>(),
        r("GET", "/api/v1/agents/config", Agent, "Long poll for the agent's signed configuration bundle: the newest at once without `since`, else a newer one than `since` within `wait` seconds (204 if none); `bound=true`: bound to the calling agent, with an expiry", None, get(rc::agent_config)),
        r("PUT", "/api/v1/agents/status", Agent, "Report the agent's health: kernel release, kernel events delivered and dropped (counters since the agent started), and the workloads it profiles (the only ones whose snapshots it may send)", Some("{kernel_release, events_delivered, events_dropped, workloads?: [{id, image_name, image_tag}]}"), put(agents::report_status)).accepts::<StatusReport>(),
        r("PUT", "/api/v1/agents/config-status", Agent, "Report how the agent applied a configuration revision", Some("{revision, status: applied|failed|refused, errors: [...]}"), put(rc::agent_status)),
        r("POST", "/api/v1/agents/snapshots", Agent, "Send a finished activity snapshot of a workload the agent reported (409 otherwise; 429 past the hourly limit), merged into its workload's security profile", Some("activity snapshot"), post(pf::ingest_snapshot)).returns::<SnapshotIngested>(),
        r("GET", "/api/v1/agents/dumps", Agent, "The agent's open activity-dump requests", None, get(pf::agent_dumps)).returns::<DumpList>(),
        r("PUT", "/api/v1/agents/dumps/{id}", Agent, "The agent says a dump request runs or is done", Some("{state: running|done}"), put(pf::agent_dump_state)),
        r("GET", "/api/v1/agents", Viewer, "Enrolled agents", None, get(agents::list)).returns::<AgentList>(),
        r("GET", "/api/v1/agents/{id}", Viewer, "One agent", None, get(agents::get)).returns::<AgentDetail>(),
        r("DELETE", "/api/v1/agents/{id}", Admin, "Revoke an agent's credential; its host cannot enroll again until readmitted", None, delete(agents::revoke)),
        r("POST", "/api/v1/agents/{id}/readmit", Admin, "Let a revoked agent's host enroll again (with a new enrollment token)", None, post(agents::readmit)),
        r("GET", "/api/v1/fleet", Viewer, "Each agent's tags, configuration revision and status (applied, failed with per-rule errors, refused)", None, get(rc::fleet)).returns::<Fleet>(),
        r("GET", "/api/v1/config", Viewer, "The newest configuration: default policy on/off, policies, custom rules, overrides", None, get(rc::show)).returns::<ConfigRevision>(),
        r("PUT", "/api/v1/config/default-policy", Admin, "Turn the embedded default policy on or off for the fleet", Some("{include_default}"), put(rc::set_default)).accepts::<DefaultPolicyRequest>().returns::<Published>(),
        r("GET", "/api/v1/config/revisions", Viewer, "Configuration history, newest first", None, get(rc::revisions)).returns::<RevisionList>(),
        r("GET", "/api/v1/config/revisions/{id}", Viewer, "One configuration revision, whole", None, get(rc::revision)).returns::<ConfigRevision>(),
        r("POST", "/api/v1/config/rollback", Admin, "Restore an earlier revision's configuration (as a new revision)", Some("{revision}"), post(rc::rollback)).accepts::<RollbackRequest>().returns::<Published>(),
        r("GET", "/api/v1/config/public-key", Viewer, "The ed25519 key that signs configuration bundles", None, get(rc::public_key)).returns::<PublicKey>(),
        r("PUT", "/api/v1/policies/{id}", Admin, "Create or replace a custom policy (refused with every compile error unless `force`)", Some("{content, description?, target_tags?, force?}"), put(rc::put_policy)).accepts::<PolicyRequest>().returns::<Published>(),
        r("GET", "/api/v1/policies/{id}", Viewer, "One custom policy", None, get(rc::get_policy)).returns::<PolicyDetail>(),
        r("DELETE", "/api/v1/policies/{id}", Admin, "Delete a custom policy", None, delete(rc::delete_policy)).returns::<Published>(),
        r("POST", "/api/v1/policies/validate", Responder, "Compile a policy with the current configuration, storing nothing", Some("{content, name?}"), post(rc::validate_policy)).accepts::<ValidateRequest>().returns::<ValidateResult>(),
        r("POST", "/api/v1/policies/test", Responder, "Evaluate a policy or one expression over the most recent reported events", Some("{content? | expression?, limit?}"), post(rc::test_rules)).accepts::<TestRequest>().returns::<TestResult>(),
        r("GET", "/api/v1/custom-rules", Viewer, "Custom rules", None, get(rc::list_custom_rules)).returns::<CustomRuleList>(),
        r("GET", "/api/v1/custom-rules/{id}", Viewer, "One custom rule", None, get(rc::get_custom_rule)).returns::<CustomRuleDetail>(),
        r("PUT", "/api/v1/custom-rules/{id}", Admin, "Create or replace a custom rule (refused if it does not compile unless `force`)", Some("{expression, description?, severity?, tags?, remediation?, enabled?, target_tags?, force?}"), put(rc::put_custom_rule)).accepts::<CustomRuleRequest>().returns::<Published>(),
        r("DELETE", "/api/v1/custom-rules/{id}", Admin, "Delete a custom rule", None, delete(rc::delete_custom_rule)).returns::<Published>(),
        r("PUT", "/api/v1/rule-overrides/{id}", Admin, "Disable (or re-enable) any rule on the targeted agents", Some("{disabled, target_tags?}"), put(rc::put_override)).accepts::<OverrideRequest>().returns::<Published>(),
        r("DELETE", "/api/v1/rule-overrides/{id}", Admin, "Remove a rule's overrides and suppressions", None, delete(rc::delete_override)).returns::<Published>(),
        r("GET", "/api/v1/profiles", Viewer, "Security profiles (filter: image_name): status, snapshots, behaviours, score", None, get(pf::list)).returns::<ProfileList>(),
        r("GET", "/api/v1/profiles/{id}", Viewer, "A security profile with every behaviour and its commonality", None, get(pf::get)).returns::<ProfileDetail>(),
        r("GET", "/api/v1/profiles/{id}/snapshots", Viewer, "The snapshots merged into a profile", None, get(pf::snapshots)).returns::<SnapshotList>(),
        r("GET", "/api/v1/profiles/{id}/export", Viewer, "Export a profile: format=json, or format=policy (a lockdown policy; action=flag|kill)", None, get(pf::export)),
        r("GET", "/api/v1/signals/{id}/suggestion", Viewer, "The suppression suggestion for a signal whose behaviour is in its image's stable profile", None, get(pf::suggestion)).returns::<SuggestionAnswer>(),
        r("POST", "/api/v1/signals/{id}/suppress", Admin, "Accept a signal's suggestion: suppress that behaviour for its rule (a configuration revision)", Some("{reason?}"), post(pf::accept_suggestion)),
        r("DELETE", "/api/v1/rule-overrides/{id}/suppressions/{index}", Admin, "Remove one suppression of a rule", None, delete(pf::remove_suppression)),
        r("POST", "/api/v1/dumps", Responder, "Ask for an activity dump of a container", Some("{container_id, agent_id?, duration?}"), post(pf::start_dump)).accepts::<DumpRequest>().returns::<DumpDetail>(),
        r("GET", "/api/v1/dumps", Viewer, "Activity dump requests", None, get(pf::list_dumps)).returns::<DumpList>(),
        r("DELETE", "/api/v1/dumps/{id}", Responder, "Stop an activity dump", None, delete(pf::stop_dump)).returns::<DumpDetail>(),
        r("GET", "/api/v1/enrollment-tokens", Admin, "Enrollment tokens (without their secrets)", None, get(admin::list_enrollment_tokens)).returns::<EnrollmentTokenList>(),
        r("POST", "/api/v1/enrollment-tokens", Admin, "Create an enrollment token (shown once): single use and 24 h unless `max_uses` (at most 100000) and `ttl_seconds` (at most 10 years) say otherwise", Some("{name, ttl_seconds?, max_uses?}"), post(admin::create_enrollment_token)).accepts::<NewEnrollmentToken>().returns::<EnrollmentTokenCreated>(),
        r("DELETE", "/api/v1/enrollment-tokens/{id}", Admin, "Revoke an enrollment token", None, delete(admin::revoke_enrollment_token)),
        r("GET", "/api/v1/users", Admin, "Users", None, get(admin::list_users)).returns::<UserList>(),
        r("POST", "/api/v1/users", Admin, "Create a user", Some("{username, password, role}"), post(admin::create_user)).accepts::<NewUser>().returns::<UserDetail>(),
        r("GET", "/api/v1/users/{id}", Admin, "One user", None, get(admin::get_user)).returns::<UserDetail>(),
        r("PATCH", "/api/v1/users/{id}", Admin, "Change a user's role, password or disabled flag (a new password ends the user's sessions)", Some("{role?, password?, disabled?}"), patch(admin::update_user)).accepts::<UserUpdate>().returns::<UserDetail>(),
        r("DELETE", "/api/v1/users/{id}", Admin, "Delete a user", None, delete(admin::delete_user)),
        r("GET", "/api/v1/tokens", Admin, "API tokens (without their secrets)", None, get(admin::list_tokens)).returns::<TokenList>(),
        r("POST", "/api/v1/tokens", Admin, "Create an API token for yourself with at most your role (shown once)", Some("{name, role, ttl_seconds?}"), post(admin::create_token)).accepts::<NewToken>().returns::<TokenCreated>(),
        r("DELETE", "/api/v1/tokens/{id}", Admin, "Revoke an API token", None, delete(admin::delete_token)),
        r("GET", "/api/v1/audit", Admin, "Audit log, newest first: who did what, when, from where, what changed (filters: actor, action or family `user.*`, target, ip, since, until; keyset paging: before=<next>, limit)", None, get(crate::audit::api::list)).returns::<AuditPage>(),
    ];
    routes.extend(crate::ui::routes());
    routes
}

/// Bodies of routes other than ingest are small.
const SMALL_BODY: usize = 1 << 20;

pub fn router(state: AppState) -> Router {
    let ingest_limit = state.config.limits.max_body_bytes;
    let request_timeout = state.config.connections.request_timeout;
    let mut router = Router::new();
    for def in routes() {
        let limit = if def.path == "/api/v1/ingest" {
            ingest_limit
        } else {
            SMALL_BODY
        };
        // The agents' long poll waits for a new revision on top of its own work.
        let timeout = if def.path == "/api/v1/agents/config" {
            request_timeout + rc::MAX_LONG_POLL
        } else {
            request_timeout
        };
        let handler = def.handler.layer(DefaultBodyLimit::max(limit)).layer(
            axum::middleware::from_fn_with_state((state.clone(), timeout), deadline),
        );
        router = router.route(def.path, handler);
    }
    router
        .fallback(|| async { crate::error::ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn(crate::ui::security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// A request (its body read slowly, or its handler stuck) ends with 408 after its route's timeout.
async fn deadline(
    State((s, limit)): State<(AppState, std::time::Duration)>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            s.metrics.requests_timed_out.inc();
            crate::error::ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request did not finish within {}",
                    humantime::format_duration(limit)
                ),
            )
            .into_response()
        }
    }
}

async fn count_requests(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let m = &s.metrics;
    m.http_requests.inc();
    if resp.status().is_client_error() {
        m.http_client_errors.inc();
    } else if resp.status().is_server_error() {
        m.http_server_errors.inc();
    }
    resp
}
