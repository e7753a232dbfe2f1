//! Network family: decoding `sock_event` records (connect, bind, accept; `bpf/net.h`) into the model's
//! [`SocketEvent`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rampart_model::events::{SockAddr, SocketEvent};
use rampart_model::EventData;

use crate::abi::read_pod;
use crate::decode::DecodeError;
use crate::record::{ActivityRecord, ProbeRecord};
use crate::skel::types::{kact_op, sock_event};

pub const AF_INET: u16 = libc::AF_INET as u16;
pub const AF_INET6: u16 = libc::AF_INET6 as u16;

pub(crate) fn decode(bytes: &[u8]) -> Result<ProbeRecord, DecodeError> {
    let e: sock_event = read_pod(bytes)?;
    let socket = SocketEvent {
        addr: SockAddr {
            ip: address(e.family, &e.addr),
            port: e.port,
            family: e.family,
            hostname: Vec::new(),
        },
        protocol: e.protocol,
        retval: e.retval,
    };
    let data = match kact_op(e.op) {
        kact_op::KOP_CONNECT => EventData::Connect(socket),
        kact_op::KOP_BIND => EventData::Bind(socket),
        kact_op::KOP_ACCEPT => EventData::Accept(socket),
        other => return Err(DecodeError::UnknownKind(other.0)),
    };
    Ok(ProbeRecord::Activity(ActivityRecord {
        timestamp_boot_ns: e.hdr.timestamp_ns,
        pid: e.pid,
        tid: e.tid,
        creds: Some(crate::decode::task_creds(&e.creds)),
        origin: crate::record::Origin::from_raw(e.origin),
        data,
    }))
}

/// The address bytes as the kernel wrote them (network order); unspecified for other families.
fn address(family: u16, raw: &[u8; 16]) -> IpAddr {
    match family {
        AF_INET6 => IpAddr::V6(Ipv6Addr::from(*raw)),
        AF_INET => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_by_family() {
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(&[127, 0, 0, 9]);
        assert_eq!(address(AF_INET, &raw), IpAddr::from([127, 0, 0, 9]));
        raw = Ipv6Addr::LOCALHOST.octets();
        assert_eq!(address(AF_INET6, &raw), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(address(1, &raw), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
}
