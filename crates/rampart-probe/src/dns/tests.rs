//! The DNS parser on well-formed and hostile packets: truncation at every byte, pointer loops, oversized
//! labels and names, lying counts. Every malformed case must return (Ok partial or Err), never panic or spin.

use std::net::IpAddr;

use super::parser::*;
use super::*;

/// A tiny message builder for the tests.
struct Msg(Vec<u8>);

impl Msg {
    fn new(id: u16, flags: u16, qd: u16, an: u16) -> Self {
        let mut v = Vec::new();
        for x in [id, flags, qd, an, 0, 0] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        Msg(v)
    }
    fn name(mut self, name: &str) -> Self {
        for label in name.split('.').filter(|l| !l.is_empty()) {
            self.0.push(label.len() as u8);
            self.0.extend_from_slice(label.as_bytes());
        }
        self.0.push(0);
        self
    }
    fn ptr(mut self, to: u16) -> Self {
        self.0.extend_from_slice(&(0xc000 | to).to_be_bytes());
        self
    }
    fn u16(mut self, x: u16) -> Self {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }
    fn u32(mut self, x: u32) -> Self {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// A response to `www.example.com A`: a CNAME to `web.example.com` (compressed) then its address.
fn response() -> Vec<u8> {
    Msg::new(0x1234, 0x8180, 1, 2)
        .name("www.example.com")
        .u16(1)
        .u16(1)
        // answer 1: www.example.com CNAME web.<example.com>
        .ptr(12)
        .u16(TYPE_CNAME)
        .u16(1)
        .u32(300)
        .u16(6)
        .raw(&[3, b'w', b'e', b'b'])
        .ptr(16)
        // answer 2: web.example.com A 192.0.2.7 (name points at the CNAME target)
        .ptr(45)
        .u16(TYPE_A)
        .u16(1)
        .u32(60)
        .u16(4)
        .raw(&[192, 0, 2, 7])
        .0
}

#[test]
fn parses_a_query() {
    let q = Msg::new(7, 0x0100, 1, 0)
        .name("Example.COM")
        .u16(28)
        .u16(1)
        .0;
    let m = parse(&q).unwrap();
    assert_eq!(
        (m.id, m.is_response, m.qdcount, m.partial),
        (7, false, 1, false)
    );
    assert_eq!(
        m.questions,
        vec![Question {
            name: "Example.COM".into(),
            qtype: 28,
            qclass: 1
        }]
    );
    let e = to_event(&m, q.len() as u32);
    assert_eq!(e.question.name, "Example.COM");
    assert_eq!(
        (e.question.qtype, e.question.class, e.question.count),
        (28, 1, 1)
    );
    assert_eq!(e.question.length as usize, q.len());
    assert!(e.response.is_none());
}

#[test]
fn parses_a_response_with_compression() {
    let r = response();
    let m = parse(&r).unwrap();
    assert!(m.is_response);
    assert_eq!(m.rcode, 0);
    assert_eq!(m.answers.len(), 2, "{m:?}");
    assert_eq!(m.answers[0].name, "www.example.com");
    assert_eq!(m.answers[0].target, "web.example.com");
    assert_eq!(m.answers[1].name, "web.example.com");
    assert_eq!(m.answers[1].address, Some(IpAddr::from([192, 0, 2, 7])));
    assert_eq!(m.answers[1].ttl, 60);
    let e = to_event(&m, r.len() as u32);
    let resp = e.response.unwrap();
    assert_eq!(resp.answers[1].address, Some(IpAddr::from([192, 0, 2, 7])));
}

#[test]
fn parses_aaaa_and_nxdomain() {
    let mut addr = [0u8; 16];
    addr[0] = 0x20;
    addr[1] = 0x01;
    addr[15] = 1;
    let r = Msg::new(1, 0x8183, 1, 1)
        .name("a.b")
        .u16(28)
        .u16(1)
        .ptr(12)
        .u16(28)
        .u16(1)
        .u32(5)
        .u16(16)
        .raw(&addr)
        .0;
    let m = parse(&r).unwrap();
    assert_eq!(m.rcode, 3);
    assert_eq!(m.answers[0].address, Some(IpAddr::from(addr)));
}

#[test]
fn tcp_length_prefix() {
    let q = Msg::new(9, 0x0100, 1, 0).name("x.org").u16(1).u16(1).0;
    let mut seg = (q.len() as u16).to_be_bytes().to_vec();
    seg.extend_from_slice(&q);
    let m = parse_tcp(&seg).unwrap();
    assert_eq!(
        (m.id, m.questions[0].name.as_str(), m.partial),
        (9, "x.org", false)
    );
    // a declared length beyond the segment: parsed as far as it goes
    seg[0] = 0xff;
    assert!(parse_tcp(&seg).unwrap().partial);
    assert!(parse_tcp(&[]).is_err());
    assert!(parse_tcp(&[0]).is_err());
}

#[test]
fn every_truncation_of_a_response_is_handled() {
    let r = response();
    for cut in 0..r.len() {
        match parse(&r[..cut]) {
            Ok(m) => {
                assert!(m.partial, "cut at {cut} parsed as complete");
                assert_eq!(m.questions[0].name, "www.example.com");
            }
            Err(_) => assert!(cut < 33, "cut at {cut}: the question was complete"),
        }
    }
}

#[test]
fn pointer_loops_are_rejected() {
    // a pointer to itself
    let p = Msg::new(1, 0, 1, 0).ptr(12).u16(1).u16(1).0;
    assert!(matches!(parse(&p), Err(DnsError::BadPointer { .. })));
    // two pointers pointing at each other
    let p = Msg::new(1, 0, 1, 0).ptr(14).ptr(12).0;
    assert!(matches!(parse(&p), Err(DnsError::BadPointer { .. })));
    // a label then a pointer back to that label: a forward-reading loop
    let p = Msg::new(1, 0, 1, 0).raw(&[1, b'a']).ptr(12).u16(1).u16(1).0;
    assert!(matches!(parse(&p), Err(DnsError::BadPointer { .. })));
    // an answer whose name jumps back into a chain that jumps forward again
    let p = Msg::new(1, 0x8000, 1, 1)
        .name("a")
        .u16(1)
        .u16(1)
        .raw(&[1, b'b'])
        .ptr(19)
        .0;
    let m = parse(&p).unwrap();
    assert!(m.partial && m.answers.is_empty());
    // a pointer beyond the packet
    let p = Msg::new(1, 0, 1, 0).ptr(0x3fff).0;
    assert!(parse(&p).is_err());
}

#[test]
fn oversized_labels_and_names_are_rejected() {
    // a length octet above 63 is not a label at all (0x40 is a reserved label type)
    let mut long_label = vec![64u8];
    long_label.extend(std::iter::repeat_n(b'a', 64));
    long_label.push(0);
    let p = Msg::new(1, 0, 1, 0).raw(&long_label).u16(1).u16(1).0;
    assert_eq!(parse(&p), Err(DnsError::BadLabelType(64)));
    let p = Msg::new(1, 0, 1, 0).name(&"a".repeat(63)).u16(1).u16(1).0;
    assert_eq!(parse(&p).unwrap().questions[0].name.len(), 63);

    let name = ["abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0"; 5].join(".");
    let p = Msg::new(1, 0, 1, 0).name(&name).u16(1).u16(1).0;
    assert_eq!(parse(&p), Err(DnsError::NameTooLong));

    // 253 characters in presentation form is the longest legal name
    let ok = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61),
    ]
    .join(".");
    let p = Msg::new(1, 0, 1, 0).name(&ok).u16(1).u16(1).0;
    assert_eq!(parse(&p).unwrap().questions[0].name, ok);

    // a long chain of pointers, each adding one label: bounded by the name length limit. The chain is the
    // opaque RDATA of a first answer; the second answer's name enters it at its far end.
    let mut chain = Vec::new();
    let mut prev = 12u16;
    let chain_at = 12 + 3 + 4 + 12; // header, question, first answer's fixed part
    for _ in 0..200 {
        let at = (chain_at + chain.len()) as u16;
        chain.extend_from_slice(&[1, b'x', 0xc0 | (prev >> 8) as u8, prev as u8]);
        prev = at;
    }
    let p = Msg::new(1, 0x8000, 1, 2)
        .name("z")
        .u16(1)
        .u16(1)
        .ptr(12)
        .u16(99)
        .u16(1)
        .u32(0)
        .u16(chain.len() as u16)
        .raw(&chain)
        .ptr(prev)
        .u16(1)
        .u16(1)
        .u32(0)
        .u16(0)
        .0;
    let parsed = parse(&p).unwrap();
    assert_eq!(parsed.answers.len(), 1, "a 200-label name must be refused");
    assert!(parsed.partial);
    assert_eq!(
        read_name(&p, chain_at + 4 * 10).unwrap().0,
        format!("{}z", "x.".repeat(11))
    );
    assert_eq!(read_name(&p, prev as usize), Err(DnsError::NameTooLong));
}

#[test]
fn reserved_label_types_are_rejected() {
    let p = Msg::new(1, 0, 1, 0).raw(&[0x40, 0]).0;
    assert_eq!(parse(&p), Err(DnsError::BadLabelType(0x40)));
    let p = Msg::new(1, 0, 1, 0).raw(&[0x80, 0]).0;
    assert_eq!(parse(&p), Err(DnsError::BadLabelType(0x80)));
}

#[test]
fn lying_counts_are_bounded() {
    // 65535 questions claimed, one present
    let p = Msg::new(1, 0, 0xffff, 0xffff).name("a").u16(1).u16(1).0;
    let m = parse(&p).unwrap();
    assert_eq!(m.questions.len(), 1);
    assert!(m.partial);
    // many real answers: only MAX_RECORDS kept
    let mut m = Msg::new(1, 0x8000, 1, 1000).name("a").u16(1).u16(1);
    for _ in 0..1000 {
        m = m.ptr(12).u16(1).u16(1).u32(1).u16(4).raw(&[1, 2, 3, 4]);
    }
    let parsed = parse(&m.0).unwrap();
    assert_eq!(parsed.answers.len(), MAX_RECORDS);
    assert!(parsed.partial);
    // no question at all
    assert_eq!(parse(&Msg::new(1, 0, 0, 0).0), Err(DnsError::NoQuestion));
    assert!(matches!(parse(&[0; 11]), Err(DnsError::ShortHeader(11))));
}

#[test]
fn odd_bytes_are_escaped() {
    let p = Msg::new(1, 0, 1, 0)
        .raw(&[3, b'a', b'.', 0x07, 1, b'\\', 0])
        .u16(1)
        .u16(1)
        .0;
    assert_eq!(parse(&p).unwrap().questions[0].name, "a\\.\\007.\\\\");
    let root = Msg::new(1, 0, 1, 0).raw(&[0]).u16(2).u16(1).0;
    assert_eq!(parse(&root).unwrap().questions[0].name, ".");
}

#[test]
fn random_bytes_never_panic() {
    // xorshift: deterministic pseudo-random packets, many shapes
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let base = response();
    for i in 0..20_000 {
        let len = (next() % 300) as usize;
        let mut p: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 {
            // mutate a valid packet: keeps the parser deep in the answer path
            p = base.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % p.len();
                p[at] = next() as u8;
            }
        }
        let _ = parse(&p);
        let _ = parse_tcp(&p);
    }
}
