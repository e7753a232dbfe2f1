//! Constant values of the language and the CIDR type.

use std::fmt;
use std::net::IpAddr;

/// An IP network (`10.0.0.0/8`); a plain address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub len: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(IpNet { addr, len })
    }

    pub fn host(addr: IpAddr) -> Self {
        IpNet {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
            let full = (len / 8) as usize;
            if a[..full] != b[..full] {
                return false;
            }
            let rem = len % 8;
            rem == 0 || (a[full] ^ b[full]) & (0xffu8 << (8 - rem)) == 0
        }
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.len),
            (IpAddr::V4(n), IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|a| prefix_eq(&n.octets(), &a.octets(), self.len)),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A value known at compile time.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Int(i64),
    Str(String),
    Bool(bool),
    Ip(IpNet),
    /// Nanoseconds.
    Duration(i64),
    Pattern(String),
    Regex(String),
}

impl Const {
    pub fn type_name(&self) -> &'static str {
        match self {
            Const::Int(_) => "int",
            Const::Str(_) => "string",
            Const::Bool(_) => "bool",
            Const::Ip(_) => "IP/CIDR",
            Const::Duration(_) => "duration",
            Const::Pattern(_) => "pattern",
            Const::Regex(_) => "regex",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains() {
        let n = IpNet::new("10.1.0.0".parse().unwrap(), 16).unwrap();
        assert!(n.contains(&"10.1.255.3".parse().unwrap()));
        assert!(!n.contains(&"10.2.0.1".parse().unwrap()));
        assert!(n.contains(&"::ffff:10.1.0.9".parse().unwrap()));
        let v6 = IpNet::new("fd00::".parse().unwrap(), 8).unwrap();
        assert!(v6.contains(&"fdab::1".parse().unwrap()));
        assert!(!v6.contains(&"fe80::1".parse().unwrap()));
        assert!(IpNet::new("1.2.3.4".parse().unwrap(), 33).is_none());
        assert!(IpNet::new("0.0.0.0".parse().unwrap(), 0)
            .unwrap()
            .contains(&"8.8.8.8".parse().unwrap()));
        assert!(IpNet::new("10.0.0.0".parse().unwrap(), 9)
            .unwrap()
            .contains(&"10.127.0.1".parse().unwrap()));
        assert!(!IpNet::new("10.0.0.0".parse().unwrap(), 9)
            .unwrap()
            .contains(&"10.128.0.1".parse().unwrap()));
    }
}
