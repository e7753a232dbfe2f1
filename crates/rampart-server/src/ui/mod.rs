//! The web UI: server-rendered HTML pages (askama templates compiled into the binary, auto-escaped) with a
//! little progressive JavaScript served from `/ui/static/`. Pages authenticate with a session cookie that
//! only these routes accept (the API keeps Bearer tokens), every POST carries the session's CSRF token, and
//! every response gets a strict Content-Security-Policy (scripts from 'self' only, no inline script).
//!
//! Handlers reuse the API's store functions and, for configuration changes, the API handlers themselves
//! (called with the session's caller), so the UI and the API cannot disagree on validation or effects.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod backend_rules;
mod login_csrf;
pub mod notification_rules;
pub mod notifications;
pub mod profiles;
pub mod query;
pub mod rules;
pub mod signals;
mod view;

use askama::Template;
use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::{r, Access, RouteDef};
use crate::auth::Role;
use crate::error::ApiError;

pub use auth::{Session, UiAdmin, UiResponder, UiViewer};

/// Every UI route, with the role it needs (walked by the security tests like the API's).
pub fn routes() -> Vec<RouteDef> {
    use Access::*;
    vec![
        r("GET", "/ui", Public, "Web UI", None, get(home)),
        r("GET", "/ui/", Public, "Web UI", None, get(home)),
        r(
            "GET",
            "/ui/static/{file}",
            Public,
            "UI stylesheet and scripts",
            None,
            get(static_file),
        ),
        r(
            "GET",
            "/ui/login",
            Public,
            "Sign-in page",
            None,
            get(auth::login_page),
        ),
        r(
            "POST",
            "/ui/login",
            Public,
            "Sign in (sets the session cookie)",
            Some("form: username, password, _csrf (with the login page's cookie)"),
            post(auth::login),
        ),
        r(
            "POST",
            "/ui/logout",
            Viewer,
            "Sign out",
            Some("form: _csrf"),
            post(auth::logout),
        ),
        r(
            "GET",
            "/ui/signals",
            Viewer,
            "Signals explorer",
            None,
            get(signals::explorer),
        ),
        r(
            "GET",
            "/ui/signals/{id}",
            Viewer,
            "Signal detail",
            None,
            get(signals::detail),
        ),
        r(
            "GET",
            "/ui/signals/{id}/panel",
            Viewer,
            "Signal detail as an HTML fragment (the explorer's side panel)",
            None,
            get(signals::panel),
        ),
        r(
            "POST",
            "/ui/signals/{id}/triage",
            Responder,
            "Set a signal's state and assignee",
            Some("form: state, assignee"),
            post(signals::triage),
        ),
        r(
            "POST",
            "/ui/signals/{id}/comments",
            Responder,
            "Comment on a signal",
            Some("form: body"),
            post(signals::comment),
        ),
        r(
            "POST",
            "/ui/signals/{id}/suppress",
            Admin,
            "Accept a signal's suppression suggestion",
            Some("form: reason"),
            post(signals::suppress),
        ),
        r(
            "GET",
            "/ui/rules",
            Viewer,
            "Rules: agent, custom and backend",
            None,
            get(rules::list),
        ),
        r(
            "GET",
            "/ui/rules/custom/new",
            Admin,
            "New custom rule form",
            None,
            get(rules::new_custom),
        ),
        r(
            "GET",
            "/ui/rules/custom/{id}",
            Admin,
            "Edit a custom rule",
            None,
            get(rules::edit_custom),
        ),
        r(
            "POST",
            "/ui/rules/custom",
            Admin,
            "Create or replace a custom rule",
            Some("form: id, expression, …"),
            post(rules::save_custom),
        ),
        r(
            "POST",
            "/ui/rules/validate",
            Admin,
            "Validate a rule expression (JSON, as you type)",
            Some("{expression}"),
            post(rules::validate),
        ),
        r(
            "POST",
            "/ui/rules/test",
            Admin,
            "Evaluate a rule expression over recent events (HTML fragment)",
            Some("{expression}"),
            post(rules::test),
        ),
        r(
            "POST",
            "/ui/rules/{id}/toggle",
            Admin,
            "Enable or disable a rule (remote-configuration override)",
            Some("form: disabled"),
            post(rules::toggle),
        ),
        r(
            "POST",
            "/ui/backend-rules",
            Admin,
            "Add or replace custom backend rules (YAML)",
            Some("form: yaml"),
            post(backend_rules::save),
        ),
        r(
            "POST",
            "/ui/backend-rules/validate",
            Admin,
            "Check a backend rule file (JSON, as you type)",
            Some("{yaml}"),
            post(backend_rules::validate),
        ),
        r(
            "POST",
            "/ui/backend-rules/test",
            Admin,
            "Dry-run a backend rule file over recent matches (HTML fragment; nothing stored or sent)",
            Some("{yaml}"),
            post(backend_rules::test),
        ),
        r(
            "GET",
            "/ui/backend-rules/new",
            Admin,
            "New backend rule file form",
            None,
            get(backend_rules::new),
        ),
        r(
            "GET",
            "/ui/backend-rules/{id}",
            Admin,
            "Edit a backend rule (as a rule file)",
            None,
            get(backend_rules::edit),
        ),
        r(
            "POST",
            "/ui/backend-rules/{id}/toggle",
            Admin,
            "Enable or disable a backend rule",
            Some("form: disabled"),
            post(backend_rules::toggle),
        ),
        r(
            "POST",
            "/ui/backend-rules/{id}/delete",
            Admin,
            "Delete a custom backend rule",
            Some("form: _csrf"),
            post(backend_rules::delete),
        ),
        r(
            "GET",
            "/ui/notifications",
            Viewer,
            "Notification channels, rules and delivery log",
            None,
            get(notifications::page),
        ),
        r(
            "GET",
            "/ui/notifications/channels/new",
            Admin,
            "New channel form",
            None,
            get(notifications::new_channel),
        ),
        r(
            "GET",
            "/ui/notifications/channels/{id}",
            Admin,
            "Edit a channel",
            None,
            get(notifications::edit_channel),
        ),
        r(
            "POST",
            "/ui/notifications/channels",
            Admin,
            "Create a channel",
            Some("form"),
            post(notifications::create_channel),
        ),
        r(
            "POST",
            "/ui/notifications/channels/{id}",
            Admin,
            "Update a channel",
            Some("form"),
            post(notifications::update_channel),
        ),
        r(
            "POST",
            "/ui/notifications/channels/{id}/delete",
            Admin,
            "Delete a channel",
            Some("form: _csrf"),
            post(notifications::delete_channel),
        ),
        r(
            "POST",
            "/ui/notifications/channels/{id}/test",
            Admin,
            "Send a test message",
            Some("form: _csrf"),
            post(notifications::test_channel),
        ),
        r(
            "POST",
            "/ui/notifications/rules",
            Admin,
            "Create a notification rule",
            Some("form"),
            post(notification_rules::create_rule),
        ),
        r(
            "GET",
            "/ui/notifications/rules/{id}",
            Admin,
            "Edit a notification rule",
            None,
            get(notification_rules::edit_rule),
        ),
        r(
            "POST",
            "/ui/notifications/rules/{id}",
            Admin,
            "Update a notification rule",
            Some("form"),
            post(notification_rules::update_rule),
        ),
        r(
            "POST",
            "/ui/notifications/rules/{id}/toggle",
            Admin,
            "Enable or disable a notification rule",
            Some("form: enabled"),
            post(notification_rules::toggle_rule),
        ),
        r(
            "POST",
            "/ui/notifications/rules/{id}/delete",
            Admin,
            "Delete a notification rule",
            Some("form: _csrf"),
            post(notification_rules::delete_rule),
        ),
        r(
            "GET",
            "/ui/profiles",
            Viewer,
            "Security profiles by image",
            None,
            get(profiles::list),
        ),
        r(
            "GET",
            "/ui/profiles/{id}",
            Viewer,
            "A security profile: process graph and commonality",
            None,
            get(profiles::detail),
        ),
        r(
            "GET",
            "/ui/agents",
            Viewer,
            "Agents",
            None,
            get(agents::list),
        ),
        r(
            "GET",
            "/ui/audit",
            Admin,
            "Audit log (filters: actor, action, target, ip; keyset pages)",
            None,
            get(audit::list),
        ),
    ]
}

async fn home() -> Redirect {
    Redirect::to("/ui/signals")
}

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

async fn static_file(Path(file): Path<String>) -> Response {
    let (body, ty) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Scripts and styles from this origin only, no inline script, no framing, no plug-ins, forms post here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers on every response (the API's JSON too: harmless there, and one place to keep).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

/// What every page's layout needs: who is signed in, their CSRF token, which tab is current.
pub struct Chrome {
    pub user: String,
    pub role: &'static str,
    pub csrf: String,
    pub nav: &'static str,
    pub can_triage: bool,
    pub can_admin: bool,
}

impl Chrome {
    pub fn new(s: &Session, nav: &'static str) -> Chrome {
        Chrome {
            user: s.caller.username.clone(),
            role: s.caller.role.as_str(),
            csrf: s.csrf.clone(),
            nav,
            can_triage: s.caller.role >= Role::Responder,
            can_admin: s.caller.role >= Role::Admin,
        }
    }
}

/// A UI handler's failure: an HTML page with the status and reason.
pub struct UiError(pub ApiError);

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> UiError {
        UiError(e)
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> UiError {
        UiError(ApiError::internal(e))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.0.status.as_u16(),
            reason: self.0.status.canonical_reason().unwrap_or(""),
            message: &self.0.message,
        };
        let body = page.render().unwrap_or_else(|_| "error".to_string());
        let mut resp = (self.0.status, Html(body)).into_response();
        if let Some(secs) = self.0.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

pub type UiResult = Result<Response, UiError>;

/// Renders a template as a 200 page.
pub fn html(t: &impl Template) -> UiResult {
    Ok(Html(t.render()?).into_response())
}

/// Renders a template with another status (a form shown again with its errors).
pub fn html_status(status: StatusCode, t: &impl Template) -> UiResult {
    Ok((status, Html(t.render()?)).into_response())
}

/// Back to a page after a form post (303: the browser GETs it).
pub fn see_other(to: &str) -> UiResult {
    Ok(Redirect::to(to).into_response())
}

/// Runs an API handler's response to completion: its status and JSON body.
pub async fn api_outcome(resp: Response) -> (StatusCode, serde_json::Value) {
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 8 << 20)
        .await
        .unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}
