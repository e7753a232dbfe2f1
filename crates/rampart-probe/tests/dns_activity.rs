//! Real-kernel DNS tests: a tiny resolver on a loopback address answers `dig`, over UDP and TCP; the
//! probe's cgroup_skb programs must report the query and the response, both attributed to dig. A
//! malformed packet to port 53 must be counted, not crash anything. They need root.

mod kernel_common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::thread;

use kernel_common::*;
use rampart_model::events::DnsEvent;
use rampart_model::EventData;

const ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 55);

/// The resolver's reply to a query: an A record for names under `rampart.test`, NXDOMAIN otherwise.
fn reply(query: &[u8]) -> Option<Vec<u8>> {
    let mut end = 12;
    let mut labels = Vec::new();
    while *query.get(end)? != 0 {
        let len = query[end] as usize;
        labels.push(String::from_utf8_lossy(query.get(end + 1..end + 1 + len)?).to_lowercase());
        end += 1 + len;
    }
    end += 5; // root label, type, class
    let question = query.get(12..end)?;
    let known = labels.join(".").ends_with("rampart.test");
    let mut r = Vec::new();
    r.extend_from_slice(&query[..2]);
    r.extend_from_slice(&(if known { 0x8180u16 } else { 0x8183 }).to_be_bytes());
    r.extend_from_slice(&[0, 1, 0, known as u8, 0, 0, 0, 0]);
    r.extend_from_slice(question);
    if known {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ANSWER.octets());
    }
    Some(r)
}

/// Serves UDP and TCP on `ip:53` in background threads for the life of the test process.
fn start_resolver(ip: &str) {
    let udp = UdpSocket::bind((ip, 53)).expect("binding UDP port 53 (tests need root)");
    thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            if let Some(r) = reply(&buf[..n]) {
                let _ = udp.send_to(&r, from);
            }
        }
    });
    let tcp = TcpListener::bind((ip, 53)).expect("binding TCP port 53");
    thread::spawn(move || {
        for mut conn in tcp.incoming().flatten() {
            let mut len = [0u8; 2];
            if conn.read_exact(&mut len).is_ok() {
                let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
                if conn.read_exact(&mut msg).is_ok() {
                    if let Some(r) = reply(&msg) {
                        let mut out = (r.len() as u16).to_be_bytes().to_vec();
                        out.extend_from_slice(&r);
                        let _ = conn.write_all(&out);
                    }
                }
            }
        }
    });
}

fn dig(server: &str, args: &[&str]) -> u32 {
    let mut child = Command::new("dig")
        .arg(format!("@{server}"))
        .args(["+tries=1", "+time=3"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("dig (dnsutils) is installed");
    let pid = child.id();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success(), "dig failed:\n{out}");
    pid
}

/// The query and the response dig saw, in order.
fn exchange(probe: &mut rampart_probe::Probe, pid: u32) -> (DnsEvent, DnsEvent) {
    let got = gather(
        probe,
        |a| match &a.data {
            EventData::Dns(d) if a.pid == pid => Some(d.clone()),
            _ => None,
        },
        |v| v.len() >= 2,
    );
    assert_eq!(got.len(), 2, "{got:#?}");
    (got[0].clone(), got[1].clone())
}

#[test]
fn udp_query_and_response_attributed_to_dig() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    start_resolver("127.0.0.77");
    let pid = dig("127.0.0.77", &["WWW.rampart.test", "A"]);
    let (query, response) = exchange(&mut probe, pid);
    assert!(query.response.is_none(), "{query:?}");
    assert_eq!(query.question.name, "WWW.rampart.test");
    assert_eq!(
        (
            query.question.qtype,
            query.question.class,
            query.question.count
        ),
        (1, 1, 1)
    );
    assert!(query.question.length > 12);
    assert_eq!(response.id, query.id);
    assert_eq!(response.question.name, "WWW.rampart.test");
    let r = response.response.expect("a response");
    assert_eq!(r.code, 0);
    assert_eq!(r.answers.len(), 1, "{r:?}");
    assert_eq!(
        (
            r.answers[0].name.as_str(),
            r.answers[0].rtype,
            r.answers[0].ttl
        ),
        ("WWW.rampart.test", 1, 60)
    );
    assert_eq!(r.answers[0].address, Some(IpAddr::V4(ANSWER)));
}

#[test]
fn tcp_query_and_nxdomain() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    start_resolver("127.0.0.78");
    let pid = dig("127.0.0.78", &["+tcp", "nothing.example", "AAAA"]);
    let (query, response) = exchange(&mut probe, pid);
    assert_eq!(
        (query.question.name.as_str(), query.question.qtype),
        ("nothing.example", 28)
    );
    assert_eq!(response.id, query.id);
    let r = response.response.expect("a response");
    assert_eq!(r.code, 3, "NXDOMAIN");
    assert!(r.answers.is_empty());
}

#[test]
fn malformed_packets_are_counted_not_fatal() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let before = probe.stats().unwrap().decode_errors;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // nothing listens on 127.0.0.79:53: the packets only pass the egress hook
    for junk in [
        &b"\x12\x34"[..],
        &[0xffu8; 40][..],
        b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c",
    ] {
        sock.send_to(junk, "127.0.0.79:53").unwrap();
    }
    let start = std::time::Instant::now();
    let mut errors = before;
    while errors < before + 3 && start.elapsed() < DEADLINE {
        probe
            .poll(std::time::Duration::from_millis(50), &mut |_| {})
            .unwrap();
        errors = probe.stats().unwrap().decode_errors;
    }
    assert!(errors >= before + 3, "decode errors {before} -> {errors}");
    let dns = &probe.stats().unwrap().activity["dns"];
    assert!(dns.sent >= 3, "{dns:?}");
}
