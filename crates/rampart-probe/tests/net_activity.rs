//! Real-kernel tests of connect, bind and accept on loopback (IPv4 and IPv6, TCP and UDP, success and
//! failure), driven from this thread and matched by its tid. They need root.

mod kernel_common;

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use kernel_common::*;
use rampart_model::events::SocketEvent;
use rampart_model::EventData;

const TCP: u16 = 6;
const UDP: u16 = 17;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[derive(Debug, PartialEq)]
enum Kind {
    Connect,
    Bind,
    Accept,
}

fn sockets(data: Vec<EventData>) -> Vec<(Kind, SocketEvent)> {
    data.into_iter()
        .filter_map(|d| match d {
            EventData::Connect(s) => Some((Kind::Connect, s)),
            EventData::Bind(s) => Some((Kind::Bind, s)),
            EventData::Accept(s) => Some((Kind::Accept, s)),
            _ => None,
        })
        .collect()
}

fn find(seen: &[(Kind, SocketEvent)], kind: Kind, port: u16) -> &SocketEvent {
    seen.iter()
        .find(|(k, s)| *k == kind && s.addr.port == port)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no {kind:?} on port {port}: {seen:#?}"))
}

#[test]
fn tcp_ipv4_bind_connect_accept() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let client_port = client.local_addr().unwrap().port();
    let (_conn, peer) = listener.accept().unwrap();
    assert_eq!(peer.port(), client_port);

    let seen = sockets(drain_thread(&mut probe, tid, Duration::from_millis(400)));
    let bind = find(&seen, Kind::Bind, port);
    assert_eq!(
        (bind.addr.ip, bind.addr.family, bind.protocol, bind.retval),
        (IpAddr::from([127, 0, 0, 1]), AF_INET, TCP, 0)
    );
    let connect = find(&seen, Kind::Connect, port);
    assert_eq!(
        (
            connect.addr.ip,
            connect.addr.family,
            connect.protocol,
            connect.retval
        ),
        (IpAddr::from([127, 0, 0, 1]), AF_INET, TCP, 0)
    );
    // accept: the peer (the client's ephemeral port), and the new descriptor as the return value
    let accept = find(&seen, Kind::Accept, client_port);
    assert_eq!(
        (accept.addr.ip, accept.addr.family, accept.protocol),
        (IpAddr::from([127, 0, 0, 1]), AF_INET, TCP)
    );
    assert!(accept.retval >= 0);
}

#[test]
fn ipv6_and_udp() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _client = TcpStream::connect(("::1", port)).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    udp.connect(("127.0.0.1", 9)).unwrap();

    let seen = sockets(drain_thread(&mut probe, tid, Duration::from_millis(400)));
    let bind6 = find(&seen, Kind::Bind, port);
    assert_eq!(
        (bind6.addr.ip, bind6.addr.family, bind6.protocol),
        (IpAddr::V6(Ipv6Addr::LOCALHOST), AF_INET6, TCP)
    );
    let connect6 = find(&seen, Kind::Connect, port);
    assert_eq!(
        (connect6.addr.ip, connect6.addr.family, connect6.retval),
        (IpAddr::V6(Ipv6Addr::LOCALHOST), AF_INET6, 0)
    );
    let ubind = find(&seen, Kind::Bind, udp_port);
    assert_eq!(ubind.protocol, UDP);
    let uconnect = find(&seen, Kind::Connect, 9);
    assert_eq!((uconnect.protocol, uconnect.retval), (UDP, 0));
}

#[test]
fn failures_carry_the_error() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    // a port nobody listens on: find one by binding and dropping
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    assert!(TcpListener::bind(("127.0.0.1", busy)).is_err());
    // a non-blocking accept with nothing pending: EAGAIN is dropped in the kernel
    held.set_nonblocking(true).unwrap();
    assert_eq!(held.accept().unwrap_err().kind(), ErrorKind::WouldBlock);

    let seen = sockets(drain_thread(&mut probe, tid, Duration::from_millis(400)));
    assert_eq!(
        find(&seen, Kind::Connect, port).retval,
        -(libc::ECONNREFUSED as i64)
    );
    let failed_bind = seen
        .iter()
        .find(|(k, s)| *k == Kind::Bind && s.addr.port == busy && s.retval != 0);
    assert_eq!(
        failed_bind.map(|(_, s)| s.retval),
        Some(-(libc::EADDRINUSE as i64)),
        "{seen:#?}"
    );
    assert!(!seen.iter().any(|(k, _)| *k == Kind::Accept), "{seen:#?}");
    assert!(probe.stats().unwrap().activity["accept"].filtered >= 1);
}

#[test]
fn unix_sockets_are_filtered_in_kernel() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let seen = sockets(drain_thread(&mut probe, tid, Duration::from_millis(300)));
    assert!(seen.is_empty(), "{seen:#?}");
    let stats = probe.stats().unwrap();
    assert!(
        stats.activity["bind"].filtered >= 1 && stats.activity["connect"].filtered >= 1,
        "{:?}",
        stats.activity
    );
}
