//! Shared test harness: a database (SQLite file or a real PostgreSQL cluster), a running server on a loopback
//! port, an HTTP client, and generators of agent matches.
#![allow(dead_code)]

/// `both!(f)`: runs `async fn f(db: TestDb)` as two tests, on SQLite and on PostgreSQL.
#[allow(unused_macros)]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::TestDb::sqlite()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                rampart_testkit::require!(postgres);
                super::$name(super::TestDb::postgres()).await
            }
        }
    };
}

pub mod certs;
#[allow(unused_imports)]
pub use rampart_testkit::{free_port, html, pg};

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rampart_server::auth::{store, Role};
use rampart_server::{AppState, Server, ServerConfig};
use serde_json::{json, Value};

pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres(Arc<pg::PgCluster>, String),
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite(tempfile::tempdir().unwrap())
    }
    pub fn postgres() -> TestDb {
        let c = pg::shared();
        let url = c.new_database();
        TestDb::Postgres(c, url)
    }
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(d) => rampart_server::storage::sqlite_url(&d.path().join("rampart.db")),
            TestDb::Postgres(_, url) => url.clone(),
        }
    }
}

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub admin: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn config(url: &str) -> ServerConfig {
    let mut c = ServerConfig::new("127.0.0.1:0".parse().unwrap(), url);
    // The tests replay matches at fixed times around T0 (2023): keep them as sent rather than moving them
    // into the default window of the last 30 days.
    c.signals.max_match_age = std::time::Duration::from_secs(20 * 365 * 86400);
    if !url.starts_with("sqlite:") {
        // PostgreSQL needs its secrets key given; one for every test database (restarts reuse it).
        c.secrets_key_file = Some(std::env::temp_dir().join("rampart-test-secrets.key"));
    }
    c
}

/// The loopback network, allow-listed for notification receivers the way an admin would with
/// `--notify-allow-net 127.0.0.0/8` (test receivers listen on this host; nothing else is opened).
pub fn loopback() -> ipnet::IpNet {
    "127.0.0.0/8".parse().unwrap()
}

/// A server whose notification channels may reach receivers on this host.
pub fn config_with_loopback_receivers(url: &str) -> ServerConfig {
    let mut c = config(url);
    c.notifications.allow_nets = vec![loopback()];
    c
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        Self::start_with(config(&db.url())).await
    }

    pub async fn start_with(config: ServerConfig) -> TestServer {
        let server = Server::bind(config).await.expect("server starts");
        let base = format!("http://{}", server.local_addr());
        let state = server.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async move {
                    rx.await.ok();
                })
                .await
                .unwrap()
        });
        // An admin session for the test (the first server on a database creates the user).
        let _ = retry_busy(|| {
            store::create_user(&state.db, "admin", "admin-password-123", Role::Admin)
        })
        .await;
        let (admin, _, _) = retry_busy(|| {
            store::login(&state.db, "admin", "admin-password-123", 3_600_000_000_000)
        })
        .await
        .unwrap();
        TestServer {
            base,
            state,
            admin,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Drops the server mid-flight, as a crash would: requests and deliveries in progress are abandoned.
    pub async fn crash(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(t) = self.task.take() {
            t.await.ok();
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        call(&format!("{}{path}", self.base), method, token, body, &[]).await
    }

    /// A new enrollment token's secret.
    pub async fn enrollment_token(&self) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/enrollment-tokens",
                Some(&self.admin),
                Some(json!({"name": "test"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// Enrolls an agent; returns its credential.
    pub async fn enroll(&self, hostname: &str) -> String {
        let token = self.enrollment_token().await;
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/agents/enroll",
                None,
                Some(json!({"token": token, "hostname": hostname})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["secret"].as_str().unwrap().to_string()
    }

    /// An API token of the admin user limited to `role` (its calls act with that role; no password is
    /// hashed, so it is quick where a test needs many callers).
    pub async fn role_token(&self, role: &str) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/tokens",
                Some(&self.admin),
                Some(json!({"name": role, "role": role})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// Creates a user with `role` and returns a session token for it.
    pub async fn user_token(&self, name: &str, role: &str) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/users",
                Some(&self.admin),
                Some(json!({"username": name, "password": "long-enough-password", "role": role})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": name, "password": "long-enough-password"})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    pub async fn ingest(&self, agent: &str, matches: &[Value]) -> (u16, Value) {
        let body = gzip(&serde_json::to_vec(&json!({"matches": matches})).unwrap());
        call(
            &format!("{}/api/v1/ingest", self.base),
            "POST",
            Some(agent),
            Some(body),
            &[("content-encoding", "gzip")],
        )
        .await
    }

    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&self.state.db.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }
}

/// `f` again while the server is busy (503: its password checks are bounded process-wide, and a test may
/// be flooding them), as a client honouring `Retry-After` would.
pub async fn retry_busy<T, F: std::future::Future<Output = rampart_server::error::ApiResult<T>>>(
    mut f: impl FnMut() -> F,
) -> rampart_server::error::ApiResult<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match f().await {
            Err(e) if e.status == 503 && std::time::Instant::now() < deadline => {
                let secs = e.retry_after.unwrap_or(1);
                tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            }
            other => return other,
        }
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// One HTTP request over a fresh connection; returns the status and the JSON body (or the text as a
/// JSON string).
pub async fn call(
    url: &str,
    method: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut all: Vec<(&str, &str)> = Vec::new();
    if let Some(b) = &bearer {
        all.push(("authorization", b));
    }
    if body.is_some() {
        all.push(("content-type", "application/json"));
    }
    all.extend_from_slice(headers);
    let (status, _, text) = raw(url, method, &all, body.unwrap_or_default()).await;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

pub mod bytes_alias {
    pub use axum::body::Bytes;
}

pub const T0: i64 = 1_700_000_000_000_000_000;

/// A match as `rampart monitor --json` prints it.
pub fn mk_match(
    rule: &str,
    event_id: &str,
    ts: i64,
    host: &str,
    container: Option<&str>,
    pid: i64,
    exe: &str,
) -> Value {
    let mut m = json!({
        "rule": {"id": rule, "version": "1.0.0", "severity": "high",
                 "tags": {"severity": "high", "category": "test"}, "description": format!("{rule} fired")},
        "event": {"type": "exec", "timestamp": ts, "id": event_id, "hostname": host, "origin": "ebpf"},
        "exec": {"file": {"path": exe}},
        "process": {"pid": pid, "ppid": 1, "file": {"path": exe, "name": exe.rsplit('/').next().unwrap()},
                    "ancestors": [{"pid": 100, "file": {"path": "/usr/sbin/sshd"}}, {"pid": 1}]},
        "actions": []
    });
    if let Some(c) = container {
        m["container"] = json!({"id": c, "image": {"name": "nginx", "tag": "1.25"}});
    }
    m
}

/// A match built as JSON, as the agent's reporter spools it (a test's JSON that is no match report fails here).
pub fn as_report(m: &Value) -> rampart_api::report::MatchReport {
    serde_json::from_value(m.clone()).expect("a match report")
}

/// The same with rule tags (category) and optional kill action.
pub fn tagged(
    rule: &str,
    category: &str,
    event_id: &str,
    ts: i64,
    host: &str,
    container: Option<&str>,
    kill: bool,
) -> Value {
    let mut m = mk_match(rule, event_id, ts, host, container, 4242, "/usr/bin/thing");
    m["rule"]["tags"]["category"] = json!(category);
    if kill {
        m["actions"] = json!([{"type": "kill", "signal": "SIGKILL", "signal_number": 9, "scope": "process",
                               "outcome": "killed", "pids": [4242]}]);
    }
    m
}

/// One raw HTTP request over a fresh connection: status, headers and body text (for HTML pages,
/// redirects and cookies).
pub async fn raw(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, String) {
    // A client per call: pooled connections must not outlive the test's runtime.
    let client: Client<_, Full<bytes_alias::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(bytes_alias::Bytes::from(body))).unwrap();
    let resp = client.request(req).await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// A web UI session: its cookie header and CSRF token.
pub struct UiSession {
    pub cookie: String,
    pub csrf: String,
}

impl TestServer {
    /// The login page's CSRF cookie (`name=value`) and form token, as a browser gets them.
    pub async fn login_csrf(&self) -> (String, String) {
        let (st, h, page) = raw(&format!("{}/ui/login", self.base), "GET", &[], vec![]).await;
        assert_eq!(st, 200, "{page}");
        let cookie = html::cookie_pair(h["set-cookie"].to_str().unwrap());
        (cookie, html::input_value(&page, "_csrf").unwrap())
    }

    /// Posts the login form (with a fresh login CSRF cookie and token).
    pub async fn ui_login_post(&self, fields: &str) -> (u16, hyper::HeaderMap, String) {
        let (cookie, token) = self.login_csrf().await;
        raw(
            &format!("{}/ui/login", self.base),
            "POST",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &cookie),
            ],
            format!("{fields}&_csrf={token}").into_bytes(),
        )
        .await
    }

    /// Signs in through the UI's login form.
    pub async fn ui_login(&self, user: &str, password: &str) -> UiSession {
        let body = format!("username={user}&password={password}&next=%2Fui%2Fsignals");
        let (st, h, text) = self.ui_login_post(&body).await;
        assert_eq!(st, 303, "login: {text}");
        let cookie = html::cookie_pair(h["set-cookie"].to_str().unwrap());
        let (st, _, page) = self.ui_get(&cookie, "/ui/signals").await;
        assert_eq!(st, 200, "{page}");
        let csrf = page
            .split("data-csrf=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        UiSession { cookie, csrf }
    }

    pub async fn ui_get(&self, cookie: &str, path: &str) -> (u16, hyper::HeaderMap, String) {
        raw(
            &format!("{}{path}", self.base),
            "GET",
            &[("cookie", cookie)],
            vec![],
        )
        .await
    }

    /// Posts a form (`_csrf` added unless `csrf` is None).
    pub async fn ui_post(
        &self,
        session: &UiSession,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> (u16, hyper::HeaderMap, String) {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        if let Some(c) = csrf {
            form.append_pair("_csrf", c);
        }
        raw(
            &format!("{}{path}", self.base),
            "POST",
            &[
                ("cookie", &session.cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            form.finish().into_bytes(),
        )
        .await
    }

    /// Posts JSON as the UI's scripts do (the CSRF token in `X-CSRF-Token` unless `csrf` is None).
    pub async fn ui_json(
        &self,
        session: &UiSession,
        path: &str,
        body: &Value,
        csrf: Option<&str>,
    ) -> (u16, String) {
        let mut headers = vec![
            ("cookie", session.cookie.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(c) = csrf {
            headers.push(("x-csrf-token", c));
        }
        let (st, _, text) = raw(
            &format!("{}{path}", self.base),
            "POST",
            &headers,
            body.to_string().into_bytes(),
        )
        .await;
        (st, text)
    }

    /// A JSON request with an agent's credential (snapshots, rule reports).
    pub async fn agent_call(
        &self,
        agent: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let body = serde_json::to_vec(&body).unwrap();
        call(
            &format!("{}{path}", self.base),
            method,
            Some(agent),
            Some(body),
            &[],
        )
        .await
    }

    /// The agent's health report listing the workloads (id, image name, tag) it profiles: the server takes
    /// activity snapshots only of those.
    pub async fn report_workloads(&self, agent: &str, workloads: &[(&str, &str, &str)]) {
        let workloads: Vec<Value> = workloads
            .iter()
            .map(|(id, name, tag)| json!({"id": id, "image_name": name, "image_tag": tag}))
            .collect();
        let body = json!({"kernel_release": "6.18.0", "events_delivered": 1, "events_dropped": 0,
                          "workloads": workloads});
        let (s, v) = self
            .agent_call(agent, "PUT", "/api/v1/agents/status", body)
            .await;
        assert_eq!(s, 204, "{v}");
    }

    /// A webhook channel to `url` and a notification rule sending it every signal; the channel's id.
    pub async fn webhook_for_every_signal(&self, url: &str) -> i64 {
        let (st, v) = self
            .call(
                "POST",
                "/api/v1/notifications/channels",
                Some(&self.admin),
                Some(json!({"name": "hook", "kind": "webhook", "config": {"url": url}})),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let channel = v["channel"]["id"].as_i64().unwrap();
        let (st, v) = self
            .call(
                "POST",
                "/api/v1/notifications/rules",
                Some(&self.admin),
                Some(json!({"name": "all", "channels": [channel]})),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        channel
    }

    /// The id of user `name`, from the API.
    pub async fn user_id(&self, name: &str) -> Value {
        let (_, users) = self
            .call("GET", "/api/v1/users", Some(&self.admin), None)
            .await;
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("no user {name}: {users}"))["id"]
            .clone()
    }

    /// Creates a user through the API (for UI sign-in).
    pub async fn add_user(&self, name: &str, role: &str) {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/users",
                Some(&self.admin),
                Some(json!({"username": name, "password": "long-enough-password", "role": role})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
}
