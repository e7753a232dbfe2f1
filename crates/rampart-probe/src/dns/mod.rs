//! DNS: the wire parser, and the decoding of the kernel's `dns_event` records (port-53 payloads copied by
//! the cgroup_skb programs of `bpf/dns.h`) into the model's [`DnsEvent`].

pub mod parser;

use rampart_model::events::{DnsAnswer, DnsEvent, DnsQuestion, DnsResponse};
use rampart_model::EventData;

use crate::abi::{has, read_record};
use crate::decode::DecodeError;
use crate::record::{ActivityRecord, ProbeRecord};
use crate::skel::types::{dns_event, dns_flag};

pub use parser::{parse, parse_tcp, DnsError, Message};

pub(crate) fn decode(bytes: &[u8]) -> Result<ProbeRecord, DecodeError> {
    let (e, mut sections) = read_record::<dns_event>(bytes)?;
    let payload = sections.take(e.payload_len)?;
    let tcp = has(e.flags, dns_flag::DNS_TCP.0);
    let size = if tcp {
        e.wire_len.saturating_sub(2)
    } else {
        e.wire_len
    };
    let msg = if tcp {
        parse_tcp(payload)
    } else {
        parse(payload)
    }
    .map_err(DecodeError::Dns)?;
    Ok(ProbeRecord::Activity(ActivityRecord {
        timestamp_boot_ns: e.hdr.timestamp_ns,
        pid: e.pid,
        tid: e.tid,
        creds: None,
        origin: crate::record::Origin::Syscall,
        data: EventData::Dns(to_event(&msg, size)),
    }))
}

/// The model's view of a parsed message: its first question, and the response code and answers when it is
/// a response. `size` is the message size on the wire.
pub fn to_event(msg: &Message, size: u32) -> DnsEvent {
    let q = msg.questions.first().cloned().unwrap_or_default();
    DnsEvent {
        id: msg.id,
        question: DnsQuestion {
            name: q.name,
            qtype: q.qtype,
            class: q.qclass,
            length: size.min(u16::MAX as u32) as u16,
            count: msg.qdcount,
        },
        response: msg.is_response.then(|| DnsResponse {
            code: msg.rcode,
            answers: msg
                .answers
                .iter()
                .map(|a| DnsAnswer {
                    name: a.name.clone(),
                    rtype: a.rtype,
                    class: a.class,
                    ttl: a.ttl,
                    address: a.address,
                    target: a.target.clone(),
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests;
