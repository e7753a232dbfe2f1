//! Network events: `dns`, `connect`, `bind`, `accept`, `imds`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::is_default;

/// `IPPORT(x)` plus the family and, for connect/accept, hostnames from the DNS cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockAddr {
    pub ip: IpAddr,
    #[serde(default)]
    pub port: u16,
    /// Address family (`AF_INET` = 2, `AF_INET6` = 10, `AF_UNIX` = 1).
    #[serde(default)]
    pub family: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostname: Vec<String>,
}

impl Default for SockAddr {
    fn default() -> Self {
        SockAddr {
            ip: IpAddr::from([0, 0, 0, 0]),
            port: 0,
            family: 0,
            hostname: Vec::new(),
        }
    }
}

impl SockAddr {
    /// `*.addr.is_public`: not loopback, private, link-local, CGNAT, multicast or unspecified.
    pub fn is_public(&self) -> bool {
        is_public_ip(&self.ip)
    }
}

pub fn is_public_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(&IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// `connect.*`, `bind.*`, `accept.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SocketEvent {
    pub addr: SockAddr,
    /// L4 protocol number (`IPPROTO_TCP` = 6, `IPPROTO_UDP` = 17).
    pub protocol: u16,
    pub retval: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsQuestion {
    pub name: String,
    #[serde(rename = "type")]
    pub qtype: u16,
    pub class: u16,
    /// Size of the DNS message, in bytes (Datadog: "the total DNS request size in bytes").
    #[serde(skip_serializing_if = "is_default")]
    pub length: u16,
    #[serde(skip_serializing_if = "is_default")]
    pub count: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsResponse {
    pub code: u8,
    /// The answer section, in packet order (Rampart addition: `dns.response.answers.*`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswer>,
}

/// One resource record of a response's answer section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsAnswer {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// The address of an `A` or `AAAA` record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// The name a `CNAME`, `NS`, `PTR` (or `MX` exchange) record points to.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
}

/// `dns.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsEvent {
    pub id: u16,
    pub question: DnsQuestion,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<DnsResponse>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImdsAwsCredentials {
    #[serde(rename = "type")]
    pub cred_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImdsAws {
    pub is_imds_v2: bool,
    pub security_credentials: ImdsAwsCredentials,
}

/// `imds.*`: a cloud metadata request or response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImdsEvent {
    /// `request` or `response`.
    #[serde(rename = "type")]
    pub imds_type: String,
    pub cloud_provider: String,
    pub url: String,
    pub host: String,
    pub user_agent: String,
    pub server: String,
    pub aws: ImdsAws,
}
