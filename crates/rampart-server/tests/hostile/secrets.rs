//! Issue 20, item 10 (secrets): the secrets the server keeps are sealed with a key outside the database (a
//! copy of the database reveals none), values an older version stored in clear are sealed at start-up, a
//! server started with another key refuses to run, and a channel's stored secrets never follow it to a new
//! destination.

use serde_json::{json, Value};

use super::{addr_of, assert_healthz_fast};
use crate::common::{config, TestDb, TestServer};

const SECRET: &str = "whsec-do-not-leak-0123456789";
const TOKEN: &str = "Bearer tok-do-not-leak-abcdef";

async fn webhook(s: &TestServer, url: &str) -> i64 {
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/channels",
            Some(&s.admin),
            Some(json!({"name": "hook", "kind": "webhook",
                        "config": {"url": url, "secret": SECRET, "headers": {"Authorization": TOKEN}}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v["channel"]["id"].as_i64().unwrap()
}

/// Every stored secret, as the database holds it.
async fn stored(s: &TestServer) -> Vec<String> {
    use sqlx::Row;
    let mut out = Vec::new();
    for sql in [
        "SELECT config AS v FROM notification_channels",
        "SELECT secret AS v FROM server_keys",
    ] {
        for r in sqlx::query(sql).fetch_all(&s.state.db.pool).await.unwrap() {
            out.push(r.get::<String, _>("v"));
        }
    }
    out
}

async fn secrets_are_sealed_at_rest_and_need_their_key(db: TestDb) {
    let s = TestServer::start(&db).await;
    webhook(&s, "https://hooks.example.com/hook").await;
    let (_, key) = s
        .call("GET", "/api/v1/config/public-key", Some(&s.admin), None)
        .await;
    // As an older version stored them: in clear.
    sqlx::query(
        "INSERT INTO notification_channels (name, kind, config, enabled, rate_per_minute, created_at, updated_at) \
         VALUES ('legacy', 'webhook', $1, 1, 60, 0, 0)",
    )
    .bind(json!({"url": "https://hooks.example.com/old", "secret": "legacy-secret-0123456789"}).to_string())
    .execute(&s.state.db.pool)
    .await
    .unwrap();
    s.stop().await;

    let s = TestServer::start(&db).await;
    let all = stored(&s).await;
    assert!(
        all.len() >= 4,
        "two channels, the signing key, the key check: {all:?}"
    );
    for v in &all {
        assert!(v.starts_with("enc:v1:"), "stored in clear: {v}");
        for secret in [SECRET, TOKEN, "legacy-secret", "hooks.example.com"] {
            assert!(!v.contains(secret), "{secret} readable in the database");
        }
    }
    // Opened with the key: the channels work, the signing key is the same one.
    let (st, list) = s
        .call(
            "GET",
            "/api/v1/notifications/channels",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{list}");
    let urls: Vec<&str> = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["config"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "https://hooks.example.com/hook",
            "https://hooks.example.com/old"
        ]
    );
    let (_, again) = s
        .call("GET", "/api/v1/config/public-key", Some(&s.admin), None)
        .await;
    assert_eq!(again, key);
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;

    // Another key: the server refuses to start rather than seal anything with it.
    let dir = tempfile::tempdir().unwrap();
    let mut other = config(&db.url());
    other.secrets_key_file = Some(dir.path().join("other.key"));
    let err = rampart_server::Server::bind(other)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains("another key sealed them"),
        "{err:#}"
    );
}
both!(secrets_are_sealed_at_rest_and_need_their_key);

async fn channel_secrets_do_not_follow_a_new_destination(db: TestDb) {
    let s = TestServer::start(&db).await;
    let id = webhook(&s, "https://hooks.example.com/hook").await;
    let path = format!("/api/v1/notifications/channels/{id}");
    let (_, shown) = s.call("GET", &path, Some(&s.admin), None).await;
    let mut config: Value = shown["channel"]["config"].clone();
    assert_eq!(config["secret"], "<redacted>");
    // The admin points the channel at a receiver of his, sending the placeholders back.
    config["url"] = json!("https://hooks.example.com/attacker");
    let (st, v) = s
        .call(
            "PATCH",
            &path,
            Some(&s.admin),
            Some(json!({"config": config})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("url changed"),
        "{v}"
    );
    let (_, after) = s.call("GET", &path, Some(&s.admin), None).await;
    assert_eq!(
        after["channel"]["config"]["url"], "https://hooks.example.com/hook",
        "nothing stored"
    );
    // Same destination: the placeholders keep the stored secrets. New secrets: the new destination is fine.
    let mut same = shown["channel"]["config"].clone();
    same["method"] = json!("PUT");
    let (st, v) = s
        .call(
            "PATCH",
            &path,
            Some(&s.admin),
            Some(json!({"config": same})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let fresh = json!({"url": "https://hooks.example.com/new", "secret": "another-secret-0123456789",
                       "headers": {"Authorization": "Bearer new"}});
    let (st, v) = s
        .call(
            "PATCH",
            &path,
            Some(&s.admin),
            Some(json!({"config": fresh})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(channel_secrets_do_not_follow_a_new_destination);
