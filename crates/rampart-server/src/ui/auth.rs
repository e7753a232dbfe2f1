//! UI sessions: a login form sets an HttpOnly, SameSite=Strict cookie holding a session token (the same
//! `api_tokens` row kind as `POST /api/v1/auth/login`); only UI routes read that cookie. Each session has a
//! CSRF token derived from its secret (SHA-256 of a label and the token: unguessable without the cookie,
//! nothing to store); every POST must carry it, as the `_csrf` form field or the `X-CSRF-Token` header, and
//! a cross-origin `Origin` header is refused outright. The login form itself has a pre-session token
//! (`login_csrf`).

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{html_status, login_csrf, see_other, UiError, UiResult};
use crate::api::extract::ClientIp;
use crate::auth::{login_guard, store, Caller, Role};
use crate::error::ApiError;
use crate::state::AppState;

pub const COOKIE: &str = "rampart_session";

/// A signed-in UI user.
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
}

pub struct UiViewer(pub Session);
pub struct UiResponder(pub Session);
pub struct UiAdmin(pub Session);

pub fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"rampart-ui-csrf\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// The first value of cookie `name` in the `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim())
        })
}

/// The session token from the `Cookie` header, if well formed.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
        .filter(|v| {
            v.len() == 68 && v.starts_with("rpu_") && v[4..].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(str::to_string)
}

/// Why a UI request was refused.
pub enum Refused {
    /// No valid session: pages redirect to the login form, posts get 401.
    SignIn {
        get: bool,
        next: String,
    },
    Forbidden(String),
    Csrf,
    Error(ApiError),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn { get: true, next } => {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish();
                Redirect::to(&format!("/ui/login?{q}")).into_response()
            }
            Refused::SignIn { get: false, .. } => {
                UiError(ApiError::unauthorized("sign in first (session missing or expired)")).into_response()
            }
            Refused::Forbidden(m) => UiError(ApiError::forbidden(m)).into_response(),
            Refused::Csrf => UiError(ApiError::forbidden(
                "this form's CSRF token is missing or does not match the session: reload the page and try again",
            ))
            .into_response(),
            Refused::Error(e) => UiError(e).into_response(),
        }
    }
}

async fn session(parts: &Parts, state: &AppState, min: Role) -> Result<Session, Refused> {
    let get = parts.method == Method::GET || parts.method == Method::HEAD;
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/ui/".into());
    let sign_in = || Refused::SignIn {
        get,
        next: next.clone(),
    };
    let Some(token) = cookie_token(&parts.headers) else {
        return Err(sign_in());
    };
    let caller = match store::resolve_user_token(&state.db, &token).await {
        Ok(Some(c)) => crate::auth::Caller {
            ip: crate::api::extract::client_ip(parts),
            ..c
        },
        Ok(None) => {
            state.metrics.auth_failures.inc();
            return Err(sign_in());
        }
        Err(e) => return Err(Refused::Error(e)),
    };
    if caller.role < min {
        return Err(Refused::Forbidden(format!(
            "this needs role {} (you are {})",
            min.as_str(),
            caller.role.as_str()
        )));
    }
    Ok(Session {
        caller,
        csrf: csrf_for(&token),
    })
}

macro_rules! role_extractor {
    ($name:ident, $role:expr) => {
        impl FromRequestParts<AppState> for $name {
            type Rejection = Refused;
            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Refused> {
                session(parts, state, $role).await.map($name)
            }
        }
    };
}
role_extractor!(UiViewer, Role::Viewer);
role_extractor!(UiResponder, Role::Responder);
role_extractor!(UiAdmin, Role::Admin);

/// A cross-origin request (its `Origin` names another host than `Host`).
fn cross_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    origin_host != host
}

pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The CSRF check shared by form and JSON posts: same origin, and `given` matches the cookie's session.
fn check_csrf(headers: &HeaderMap, given: Option<&str>) -> Result<(), Refused> {
    if cross_origin(headers) {
        return Err(Refused::Csrf);
    }
    let token = cookie_token(headers).ok_or(Refused::Csrf)?;
    match given {
        Some(g) if same_secret(g, &csrf_for(&token)) => Ok(()),
        _ => Err(Refused::Csrf),
    }
}

/// An `application/x-www-form-urlencoded` body whose `_csrf` field matched the session.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self, key: &str) -> String {
        self.get(key).unwrap_or("").to_string()
    }
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

async fn body_bytes(
    req: axum::extract::Request,
) -> Result<(HeaderMap, axum::body::Bytes), Refused> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|_| Refused::Error(ApiError::too_large("a form is at most 1 MiB")))?;
    Ok((parts.headers, bytes))
}

fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

impl FromRequest<AppState> for Form {
    type Rejection = Refused;
    async fn from_request(req: axum::extract::Request, _: &AppState) -> Result<Self, Refused> {
        let (headers, bytes) = body_bytes(req).await?;
        let pairs = parse_form(&bytes);
        let given = pairs
            .iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.as_str());
        check_csrf(&headers, given)?;
        Ok(Form(pairs))
    }
}

/// A JSON body posted by the UI's scripts, with the CSRF token in `X-CSRF-Token`.
pub struct CsrfJson(pub serde_json::Value);

impl FromRequest<AppState> for CsrfJson {
    type Rejection = Refused;
    async fn from_request(req: axum::extract::Request, _: &AppState) -> Result<Self, Refused> {
        let (headers, bytes) = body_bytes(req).await?;
        let given = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        check_csrf(&headers, given)?;
        serde_json::from_slice(&bytes)
            .map(CsrfJson)
            .map_err(|e| Refused::Error(ApiError::bad_request(format!("body: {e}"))))
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: String,
    username: String,
    csrf: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a local UI path may follow a login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/ui/signals".into(),
    }
}

/// The login form with its CSRF token, setting the nonce cookie when the browser has none yet.
async fn login_form(
    s: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    page: LoginPage,
) -> UiResult {
    let csrf = login_csrf::issue(s, headers).await?;
    let mut resp = html_status(
        status,
        &LoginPage {
            csrf: csrf.token,
            ..page
        },
    )?;
    resp.headers_mut().append(
        header::SET_COOKIE,
        login_csrf::cookie(s, &csrf.nonce)
            .parse()
            .map_err(ApiError::internal)?,
    );
    Ok(resp)
}

fn blank_login(next: String) -> LoginPage {
    LoginPage {
        next,
        error: String::new(),
        username: String::new(),
        csrf: String::new(),
    }
}

pub async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> UiResult {
    let page = blank_login(safe_next(q.next.as_deref()));
    login_form(&s, &headers, StatusCode::OK, page).await
}

fn session_cookie(s: &AppState, token: &str, max_age: i64) -> String {
    let secure = if s.config.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

pub async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> UiResult {
    if cross_origin(&headers) {
        return Ok(Refused::Csrf.into_response());
    }
    let form = Form(parse_form(&body));
    let username = form.text("username");
    let next = safe_next(form.get("next"));
    if !login_csrf::check(&s, &headers, form.get("_csrf")).await? {
        let page = LoginPage {
            error: "This sign-in form expired or did not come from this server: try again.".into(),
            ..blank_login(next)
        };
        return login_form(&s, &headers, StatusCode::FORBIDDEN, page).await;
    }
    let ttl = s.config.session_ttl.as_nanos() as i64;
    match login_guard::login(&s, ip, &username, &form.text("password")).await {
        Ok((token, _, _)) => {
            let mut resp = see_other(&next)?;
            let cookie = session_cookie(&s, &token, (ttl / 1_000_000_000).max(1));
            resp.headers_mut().insert(
                header::SET_COOKIE,
                cookie.parse().map_err(ApiError::internal)?,
            );
            Ok(resp)
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED || e.status == StatusCode::FORBIDDEN => {
            s.metrics.auth_failures.inc();
            let page = LoginPage {
                error: "Wrong username or password.".into(),
                username,
                ..blank_login(next)
            };
            login_form(&s, &headers, StatusCode::UNAUTHORIZED, page).await
        }
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            let page = LoginPage {
                error: format!(
                    "Too many failed sign-ins for this user or from this address: try again in {} seconds.",
                    e.retry_after.unwrap_or(1)
                ),
                username,
                ..blank_login(next)
            };
            let mut resp = login_form(&s, &headers, StatusCode::TOO_MANY_REQUESTS, page).await?;
            if let Some(secs) = e.retry_after {
                resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(State(s): State<AppState>, UiViewer(session): UiViewer, _: Form) -> UiResult {
    crate::api::admin::logout(
        State(s.clone()),
        crate::auth::extract::Viewer(session.caller),
    )
    .await?;
    let mut resp = see_other("/ui/login")?;
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&s, "", 0)
            .parse()
            .map_err(ApiError::internal)?,
    );
    Ok(resp)
}
