//! `rampart notifications …` against a real server on loopback (SQLite): channels, rules, deliveries and
//! a test send to a loopback receiver; a viewer token is refused writes with the server's reason.

use std::process::{Command, Output};

use rampart_server::auth::{store, Role};
use rampart_server::{Server, ServerConfig};
use serde_json::Value;

fn rampart(server: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("notifications")
        .args(args)
        .env("RAMPART_SERVER", server)
        .env("RAMPART_TOKEN", token)
        .output()
        .expect("rampart runs")
}

fn ok_json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn manages_channels_rules_and_deliveries() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = rampart_server::storage::sqlite_url(&dir.path().join("r.db"));
    let (base, admin, viewer, received) = rt.block_on(async {
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), url);
        // The test receiver listens on this host: allow-listed as an admin would (--notify-allow-net).
        config.notifications.allow_nets = vec!["127.0.0.0/8".parse().unwrap()];
        let server = Server::bind(config).await.unwrap();
        let base = format!("http://{}", server.local_addr());
        let db = server.state().db.clone();
        let user = store::create_user(&db, "admin", "admin-password-123", Role::Admin)
            .await
            .unwrap();
        let (admin, _) = store::create_api_token(&db, user.id, "cli", Role::Admin, None)
            .await
            .unwrap();
        let (viewer, _) = store::create_api_token(&db, user.id, "ro", Role::Viewer, None)
            .await
            .unwrap();
        tokio::spawn(server.run(std::future::pending()));
        // A receiver for the test send: counts the requests it answers.
        let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = received.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(move || {
            let c = counter.clone();
            async move {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ((base, hook), admin, viewer, received)
    });
    let (base, hook) = base;

    let config = format!("{{\"url\": \"{hook}\", \"secret\": \"0123456789abcdef0123\"}}");
    let created = ok_json(rampart(
        &base,
        &admin,
        &[
            "channels",
            "create",
            "--name",
            "ops-hook",
            "--kind",
            "webhook",
            "--config",
            &config,
            "--title",
            "[{{ severity }}] {{ rule.name }}",
        ],
    ));
    let id = created["channel"]["id"].as_i64().unwrap();
    assert_eq!(created["channel"]["config"]["secret"], "<redacted>");
    assert_eq!(
        created["channel"]["template"]["title"],
        "[{{ severity }}] {{ rule.name }}"
    );

    let list = rampart(&base, &viewer, &["channels", "list"]);
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("webhook") && text.contains("ops-hook") && text.contains("enabled"),
        "{text}"
    );

    let rule = ok_json(rampart(
        &base,
        &admin,
        &[
            "rules",
            "create",
            "--name",
            "high",
            "--channel",
            &id.to_string(),
            "--min-severity",
            "high",
            "--source",
            "agent",
            "--tag",
            "category:exec",
        ],
    ));
    let rid = rule["rule"]["id"].as_i64().unwrap();
    assert_eq!(rule["rule"]["tags"], serde_json::json!(["category:exec"]));
    let updated = ok_json(rampart(
        &base,
        &admin,
        &["rules", "update", &rid.to_string(), "--disable"],
    ));
    assert_eq!(updated["rule"]["enabled"], false);
    assert_eq!(
        updated["rule"]["min_severity"], "high",
        "other fields unchanged"
    );

    // A test send goes to the receiver now.
    let sent = ok_json(rampart(&base, &admin, &["test", &id.to_string()]));
    assert_eq!(sent["delivered"], true, "{sent}");
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 1);

    let log = ok_json(rampart(
        &base,
        &viewer,
        &["--json", "deliveries", "list", "--status", "failed"],
    ));
    assert_eq!(log["total"], 0);

    // A viewer cannot write: the command fails with the server's reason and nothing changes.
    let refused = rampart(&base, &viewer, &["channels", "delete", &id.to_string()]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("403") && err.contains("needs role admin"),
        "{err}"
    );
    // A bad body is refused with the reason.
    let bad = rampart(
        &base,
        &admin,
        &["rules", "create", "--name", "x", "--channel", "999"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no channel 999"));

    let deleted = rampart(&base, &admin, &["rules", "delete", &rid.to_string()]);
    assert!(deleted.status.success());
    let deleted = rampart(&base, &admin, &["channels", "delete", &id.to_string()]);
    assert!(deleted.status.success());
    let list = ok_json(rampart(&base, &admin, &["--json", "channels", "list"]));
    assert_eq!(list["channels"], serde_json::json!([]));

    // No token: a clear message.
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["notifications", "channels", "list"])
        .env_remove("RAMPART_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RAMPART_TOKEN"));
    drop(rt);
}
