//! End-to-end DNS and connect events through `rampart monitor --events --json`: `dig` queries a tiny
//! resolver on loopback; the query and the response are attributed to dig with their SECL fields. Root.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rampart_testkit::MonitorProcess;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// Answers every A query with 192.0.2.66.
fn resolver(ip: &str) {
    let udp = UdpSocket::bind((ip, 53)).expect("binding port 53 (tests need root)");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let q = &buf[..n];
            let Some(end) = q.iter().skip(12).position(|b| *b == 0).map(|p| 12 + p + 5) else {
                continue;
            };
            let mut r = q[..2].to_vec();
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..end]);
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 66]);
            let _ = udp.send_to(&r, from);
        }
    });
}

#[test]
fn dig_query_and_response() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let m = MonitorProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rampart")),
        &[
            "--events",
            "--json",
            "--event-type",
            "dns",
            "--event-type",
            "connect",
        ],
        &[],
    )
    .unwrap();
    resolver("127.0.0.88");
    let dig = Command::new("dig")
        .args([
            "@127.0.0.88",
            "+tries=1",
            "+time=3",
            "monitor.rampart.test",
            "A",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = dig.id();
    assert!(dig.wait_with_output().unwrap().status.success());
    let is_dns = |response: bool| {
        move |v: &Value| {
            v["event"]["type"] == "dns"
                && v["process"]["pid"] == pid
                && v["dns"].get("response").is_some() == response
        }
    };
    let query = m.wait_for(WAIT, is_dns(false)).expect("dns query event");
    assert_eq!(query["dns"]["question"]["name"], "monitor.rampart.test");
    assert_eq!(query["dns"]["question"]["type"], 1);
    assert_eq!(query["process"]["file"]["name"], "dig");
    let response = m.wait_for(WAIT, is_dns(true)).expect("dns response event");
    assert_eq!(response["dns"]["id"], query["dns"]["id"]);
    assert_eq!(response["dns"]["response"]["code"], 0);
    assert_eq!(
        response["dns"]["response"]["answers"][0]["address"], "192.0.2.66",
        "{response}"
    );
    // dig's UDP socket connect to the resolver is a connect event
    let connect = m
        .wait_for(WAIT, |v| {
            v["event"]["type"] == "connect" && v["process"]["pid"] == pid
        })
        .expect("connect event");
    assert_eq!(connect["connect"]["addr"]["port"], 53);
    assert_eq!(connect["connect"]["addr"]["ip"], "127.0.0.88");
    assert_eq!(connect["connect"]["protocol"], 17);
}
