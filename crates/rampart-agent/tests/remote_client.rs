//! The agent's remote-configuration client against a stand-in server on loopback: bundles signed by another
//! key or altered after signing are refused (and the refusal reported), a good one is handed to the agent
//! loop and its outcome reported, and the last applied bundle is cached for the next start. Bundles issued to
//! another agent, expired ones, unbound ones, and (after a restart) ones older than the revision the agent
//! applied before are refused too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_agent::remote::{Applied, RemoteConfig, RemoteConfigOptions};
use rampart_policy::bundle::{Bundle, BundlePolicy, BundleSigner, SignedBundle};
use serde_json::{json, Value};

/// What the stand-in server answers to `GET /api/v1/agents/config`, and the status reports it received.
#[derive(Default)]
struct Fake {
    serving: Option<SignedBundle>,
    statuses: Vec<Value>,
}

fn serve(fake: Arc<Mutex<Fake>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let (status, answer) = {
                let mut f = fake.lock().unwrap();
                if request_line.starts_with("PUT /api/v1/agents/config-status") {
                    f.statuses
                        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    ("204 No Content", String::new())
                } else if request_line.starts_with("GET /api/v1/agents/config") {
                    match &f.serving {
                        Some(b) => ("200 OK", serde_json::to_string(b).unwrap()),
                        None => ("204 No Content", String::new()),
                    }
                } else {
                    ("404 Not Found", String::new())
                }
            };
            if status.starts_with("200") {
                // A long poll answers at once here; pace the client a little.
                std::thread::sleep(Duration::from_millis(50));
            } else if status.starts_with("204") && request_line.contains("/config?") {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}

fn bundle(revision: i64) -> Bundle {
    Bundle {
        revision,
        issued_at: 1,
        include_default: false,
        policies: vec![BundlePolicy {
            name: "p".into(),
            content: "version: 1.0.0\nrules: []\n".into(),
        }],
        overrides: vec![],
        profiles: vec![],
        agent_id: Some(AGENT),
        expires_at: Some(i64::MAX / 2),
    }
}

/// The agent id in the test credential.
const AGENT: i64 = 1;

fn wait_status(fake: &Arc<Mutex<Fake>>, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = fake.lock().unwrap().statuses.get(n - 1) {
            return s.clone();
        }
        assert!(Instant::now() < deadline, "no status report #{n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn recv(client: &RemoteConfig) -> Option<Bundle> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(b) = client.try_recv() {
            return Some(b);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A stand-in server, an enrolled agent's spool (credential pinning `pinned`) and client options.
fn setup(pinned: &BundleSigner) -> (Arc<Mutex<Fake>>, tempfile::TempDir, RemoteConfigOptions) {
    let fake = Arc::new(Mutex::new(Fake::default()));
    let url = serve(fake.clone());
    let spool = tempfile::tempdir().unwrap();
    std::fs::write(
        spool.path().join("credentials.json"),
        json!({"agent_id": AGENT, "secret": "s", "server": url, "config_key": pinned.public_hex()})
            .to_string(),
    )
    .unwrap();
    let mut options = RemoteConfigOptions::new(&url, spool.path());
    options.retry_after = Duration::from_millis(100);
    options.poll_wait = Duration::from_secs(1);
    (fake, spool, options)
}

/// Serves `signed` until the client refuses it; returns the refusal's error text.
fn refused(fake: &Arc<Mutex<Fake>>, client: &RemoteConfig, signed: SignedBundle) -> String {
    let before = fake.lock().unwrap().statuses.len();
    fake.lock().unwrap().serving = Some(signed);
    let s = wait_status(fake, before + 1);
    assert_eq!(s["status"], "refused", "{s}");
    assert!(
        client.try_recv().is_none(),
        "a refused bundle never reaches the agent loop"
    );
    s["errors"].to_string()
}

#[test]
fn bundles_for_other_agents_stale_unbound_or_replayed_are_refused() {
    let pinned = BundleSigner::from_random([1; 32]);
    let (fake, spool, options) = setup(&pinned);
    let client = RemoteConfig::start(options.clone()).unwrap();

    // Genuine, signed by the pinned key, but issued to another agent (captured there, replayed here).
    let other = Bundle {
        agent_id: Some(AGENT + 1),
        ..bundle(4)
    };
    let why = refused(&fake, &client, pinned.sign(&other));
    assert!(why.contains("issued to agent Some(2)"), "{why}");
    // Expired: held back and delivered later.
    let stale = Bundle {
        expires_at: Some(1),
        ..bundle(4)
    };
    assert!(refused(&fake, &client, pinned.sign(&stale)).contains("expired"));
    // Unbound, as servers before binding issued them.
    let unbound = Bundle {
        agent_id: None,
        expires_at: None,
        ..bundle(4)
    };
    assert!(refused(&fake, &client, pinned.sign(&unbound)).contains("issued to agent None"));

    // Revision 5 arrives; the agent cannot apply it (so nothing is cached), but it has seen it.
    fake.lock().unwrap().serving = Some(pinned.sign(&bundle(5)));
    assert_eq!(recv(&client).expect("revision 5").revision, 5);
    client.applied(5, Applied::Failed(vec![json!({"error": "test"})]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fake
        .lock()
        .unwrap()
        .statuses
        .iter()
        .any(|s| s["status"] == "failed")
    {
        assert!(Instant::now() < deadline, "no failed status");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(client);
    assert!(!spool.path().join("config-bundle.json").exists());

    // After a restart, an older bundle (genuine, bound to this agent, fresh) is a replay: refused.
    let client = RemoteConfig::start(options).unwrap();
    let why = refused(&fake, &client, pinned.sign(&bundle(3)));
    assert!(why.contains("replayed"), "{why}");
    // The same revision again, or a newer one, goes through.
    fake.lock().unwrap().serving = Some(pinned.sign(&bundle(6)));
    assert_eq!(recv(&client).expect("revision 6").revision, 6);
}

#[test]
fn forged_and_tampered_bundles_are_refused_and_good_ones_applied_and_cached() {
    let pinned = BundleSigner::from_random([1; 32]);
    let (fake, _spool, options) = setup(&pinned);

    // Signed by a key the agent did not pin.
    let forger = BundleSigner::from_random([2; 32]);
    fake.lock().unwrap().serving = Some(forger.sign(&bundle(1)));
    let client = RemoteConfig::start(options.clone()).unwrap();
    let s = wait_status(&fake, 1);
    assert_eq!(
        (s["status"].as_str(), s["revision"].as_i64()),
        (Some("refused"), Some(1)),
        "{s}"
    );
    assert!(s["errors"]
        .to_string()
        .contains("not signed by the pinned server key"));
    assert!(
        client.try_recv().is_none(),
        "a forged bundle never reaches the agent loop"
    );

    // Signed by the pinned key, then altered on the way.
    let mut tampered = pinned.sign(&bundle(1));
    tampered.bundle = tampered.bundle.replace("rules: []", "rules: [{id: evil}]");
    fake.lock().unwrap().serving = Some(tampered);
    let s = wait_status(&fake, 2);
    assert_eq!(s["status"], "refused", "{s}");
    assert!(client.try_recv().is_none());

    // The genuine article.
    fake.lock().unwrap().serving = Some(pinned.sign(&bundle(2)));
    let got = recv(&client).expect("a verified bundle is delivered");
    assert_eq!(got, bundle(2));
    client.applied(2, Applied::Ok);
    let deadline = Instant::now() + Duration::from_secs(10);
    let applied = loop {
        let statuses = fake.lock().unwrap().statuses.clone();
        if let Some(s) = statuses.iter().find(|s| s["status"] == "applied") {
            break s.clone();
        }
        assert!(Instant::now() < deadline, "no applied status: {statuses:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(applied["revision"], 2);
    drop(client);

    // A restart with the server answering nothing new: the cached bundle is run again.
    fake.lock().unwrap().serving = None;
    let client = RemoteConfig::start(options).unwrap();
    let got = recv(&client).expect("the cached bundle is delivered at start");
    assert_eq!(got.revision, 2);
}
