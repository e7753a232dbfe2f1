//! A bounded DNS wire-format parser (RFC 1035) for packets copied out of the kernel.
//!
//! Never panics and does work linear in the packet size: every read is bounds-checked, a compression
//! pointer must point strictly before the label that holds it (so chains always terminate, loops are
//! rejected), names are capped at 255 wire bytes (labels are at most 63 by construction: a larger length
//! octet is a reserved label type, refused), and at most [`MAX_RECORDS`] questions
//! and answers are kept whatever the header counts claim. A packet cut short (the kernel copies at most
//! 1 KiB) still yields its header and every complete section entry before the cut, flagged `partial`.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most questions or answers kept from one message.
pub const MAX_RECORDS: usize = 64;
/// Longest name on the wire (RFC 1035 §2.3.4), length octets included.
pub const MAX_NAME_WIRE: usize = 255;
const HEADER_LEN: usize = 12;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_MX: u16 = 15;
pub const TYPE_AAAA: u16 = 28;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("shorter than the 12-byte header ({0} bytes)")]
    ShortHeader(usize),
    #[error("no complete question")]
    NoQuestion,
    #[error("name runs past the end of the packet at offset {0}")]
    Truncated(usize),
    #[error("compression pointer at offset {at} does not point backwards (to {to})")]
    BadPointer { at: usize, to: usize },
    #[error("name longer than 255 bytes")]
    NameTooLong,
    #[error("reserved label type {0:#04x}")]
    BadLabelType(u8),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// A / AAAA records.
    pub address: Option<IpAddr>,
    /// CNAME / NS / PTR / MX target.
    pub target: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub is_response: bool,
    pub opcode: u8,
    pub rcode: u8,
    /// Header counts as sent (they may exceed what the packet holds).
    pub qdcount: u16,
    pub ancount: u16,
    pub questions: Vec<Question>,
    pub answers: Vec<Answer>,
    /// The packet ended (or a record was malformed) before every counted entry was read.
    pub partial: bool,
}

/// Parses a DNS message as carried by UDP (no length prefix).
pub fn parse(packet: &[u8]) -> Result<Message, DnsError> {
    let header = packet
        .get(..HEADER_LEN)
        .ok_or(DnsError::ShortHeader(packet.len()))?;
    let be16 = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let flags = be16(2);
    let mut msg = Message {
        id: be16(0),
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xf) as u8,
        rcode: (flags & 0xf) as u8,
        qdcount: be16(4),
        ancount: be16(6),
        ..Default::default()
    };
    let mut r = Reader {
        packet,
        pos: HEADER_LEN,
    };

    for _ in 0..msg.qdcount {
        if msg.questions.len() == MAX_RECORDS {
            msg.partial = true;
            break;
        }
        match r.question() {
            Ok(q) => msg.questions.push(q),
            Err(e) if msg.questions.is_empty() => return Err(e),
            Err(_) => {
                msg.partial = true;
                return Ok(msg);
            }
        }
    }
    if msg.questions.is_empty() {
        return Err(DnsError::NoQuestion);
    }
    for _ in 0..msg.ancount {
        if msg.answers.len() == MAX_RECORDS {
            msg.partial = true;
            break;
        }
        match r.answer() {
            Ok(a) => msg.answers.push(a),
            Err(_) => {
                msg.partial = true;
                break;
            }
        }
    }
    Ok(msg)
}

/// Parses a DNS message as carried by TCP: a 2-byte length, then the message (possibly cut short).
pub fn parse_tcp(segment: &[u8]) -> Result<Message, DnsError> {
    let body = segment.get(2..).ok_or(DnsError::ShortHeader(0))?;
    let declared = u16::from_be_bytes([segment[0], segment[1]]) as usize;
    let mut msg = parse(&body[..declared.min(body.len())])?;
    msg.partial |= declared > body.len();
    Ok(msg)
}

struct Reader<'a> {
    packet: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], DnsError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DnsError::Truncated(self.pos))?;
        let out = self
            .packet
            .get(self.pos..end)
            .ok_or(DnsError::Truncated(self.pos))?;
        self.pos = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn name(&mut self) -> Result<String, DnsError> {
        let (name, end) = read_name(self.packet, self.pos)?;
        self.pos = end;
        Ok(name)
    }

    fn question(&mut self) -> Result<Question, DnsError> {
        let name = self.name()?;
        Ok(Question {
            name,
            qtype: self.u16()?,
            qclass: self.u16()?,
        })
    }

    fn answer(&mut self) -> Result<Answer, DnsError> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let rdlen = self.u16()? as usize;
        let rdata_at = self.pos;
        let rdata = self.bytes(rdlen)?;
        let mut answer = Answer {
            name,
            rtype,
            class,
            ttl,
            ..Default::default()
        };
        match rtype {
            TYPE_A if rdlen == 4 => {
                answer.address = Some(IpAddr::V4(Ipv4Addr::new(
                    rdata[0], rdata[1], rdata[2], rdata[3],
                )));
            }
            TYPE_AAAA if rdlen == 16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(rdata);
                answer.address = Some(IpAddr::V6(Ipv6Addr::from(octets)));
            }
            // Names inside RDATA may point anywhere before them in the packet, so read from the packet.
            TYPE_CNAME | TYPE_NS | TYPE_PTR => answer.target = read_name(self.packet, rdata_at)?.0,
            TYPE_MX if rdlen > 2 => answer.target = read_name(self.packet, rdata_at + 2)?.0,
            _ => {}
        }
        Ok(answer)
    }
}

/// Reads the (possibly compressed) name at `start`; returns it in presentation form and the offset just
/// past its in-place part. Labels are joined with '.', with `.`, `\` and non-printable bytes escaped as
/// dig does (`\.`, `\\`, `\DDD`); the root name is ".".
pub fn read_name(packet: &[u8], start: usize) -> Result<(String, usize), DnsError> {
    let mut out = String::new();
    let mut pos = start;
    let mut end = None; // set at the first pointer: where the caller's reading resumes
    let mut wire_len = 0usize;
    // Each pointer must go strictly below the label it sits in, so `floor` only decreases: no loops.
    let mut floor = start;
    loop {
        let len = *packet.get(pos).ok_or(DnsError::Truncated(pos))?;
        match len & 0xc0 {
            0x00 => {
                let len = len as usize;
                if len == 0 {
                    let end = end.unwrap_or(pos + 1);
                    if out.is_empty() {
                        out.push('.');
                    }
                    return Ok((out, end));
                }
                wire_len += len + 1;
                if wire_len + 1 > MAX_NAME_WIRE {
                    return Err(DnsError::NameTooLong);
                }
                let label = packet
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(DnsError::Truncated(pos))?;
                if !out.is_empty() {
                    out.push('.');
                }
                escape_label(&mut out, label);
                pos += 1 + len;
            }
            0xc0 => {
                let low = *packet.get(pos + 1).ok_or(DnsError::Truncated(pos))?;
                let to = (((len & 0x3f) as usize) << 8) | low as usize;
                if to >= floor.min(pos) {
                    return Err(DnsError::BadPointer { at: pos, to });
                }
                end.get_or_insert(pos + 2);
                floor = to;
                pos = to;
            }
            _ => return Err(DnsError::BadLabelType(len)),
        }
    }
}

fn escape_label(out: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x21..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
}
