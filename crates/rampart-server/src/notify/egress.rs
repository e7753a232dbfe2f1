//! Where notifications may go. A channel's endpoint is chosen by an admin but its name is resolved by
//! whoever runs DNS, so every address a delivery would reach is checked: loopback, private, link-local
//! (cloud metadata at 169.254.169.254), multicast and the other special-purpose ranges are refused unless
//! an admin allow-lists them (`--notify-allow-net CIDR`).
//!
//! The check sits where the address is chosen, so nothing can change between check and connect: HTTP
//! channels resolve through [`Resolver`] (reqwest's DNS hook: the connection goes to the addresses it
//! returned, and only those), IP literals are checked before the request, and email connects to the
//! checked address itself (TLS still verifies the configured host name). Redirects are never followed.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ipnet::IpNet;

/// An address a notification may not reach, and why.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The name that resolved to `ip`, when the endpoint was a name.
    pub host: Option<String>,
    pub ip: IpAddr,
    pub reason: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ip, reason) = (self.ip, self.reason);
        match &self.host {
            Some(h) => write!(f, "{h} resolves to {ip}, {reason}")?,
            None => write!(f, "{ip} is {reason}")?,
        }
        f.write_str(
            ": notifications may not reach it unless an admin allows it (--notify-allow-net)",
        )
    }
}

impl std::error::Error for Refused {}

/// Why an endpoint could not be resolved to allowed addresses.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("resolving {host}: {error}")]
    Lookup { host: String, error: std::io::Error },
}

type Lookup<'a> = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Name resolution (the system's resolver in production; a scripted one in tests of DNS rebinding).
pub trait Resolve: Send + Sync {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a>;
}

/// getaddrinfo, as everything else on the host resolves (`/etc/hosts`, `/etc/resolv.conf`).
pub struct SystemResolve;

impl Resolve for SystemResolve {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Special-purpose IPv4 ranges (IANA registry, RFC 6890 and successors) that are not the public Internet.
const V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "an unspecified (\"this network\") address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("127.0.0.0/8", "a loopback address"),
    (
        "169.254.0.0/16",
        "a link-local address (cloud metadata services live there)",
    ),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved or broadcast address"),
];

const V6: &[(&str, &str)] = &[
    (
        "::/96",
        "an unspecified, loopback or IPv4-compatible address",
    ),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("100::/64", "a discard address"),
    ("2001::/23", "an IETF protocol address"),
    ("2001:db8::/32", "a documentation address"),
    ("fc00::/7", "a unique local (private) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
];

static SPECIAL: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    V4.iter()
        .chain(V6)
        .map(|(net, why)| (net.parse().expect("valid CIDR in the table"), *why))
        .collect()
});

/// The IPv4 address an IPv6 address stands for, where the network would carry it to IPv4: mapped
/// (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        )),
        _ => None,
    }
}

/// Why `ip` is not a public Internet address, or None if it is one.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    if let IpAddr::V6(v6) = ip {
        if let Some(v4) = embedded_v4(v6) {
            return special_purpose(IpAddr::V4(v4));
        }
    }
    SPECIAL
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, why)| *why)
}

/// The egress policy: which non-public networks an admin allowed, and how names are resolved.
pub struct Egress {
    allow: Vec<IpNet>,
    resolve: Arc<dyn Resolve>,
}

/// How long a name may take to resolve when a channel is saved.
const SAVE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

impl Egress {
    pub fn new(allow: Vec<IpNet>) -> Egress {
        Egress::with_resolver(allow, Arc::new(SystemResolve))
    }

    pub fn with_resolver(allow: Vec<IpNet>, resolve: Arc<dyn Resolve>) -> Egress {
        Egress { allow, resolve }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allow
            .iter()
            .any(|net| net.contains(&ip) || v4.is_some_and(|v| net.contains(&v)))
    }

    /// Refuses a special-purpose address that no allow-listed network contains.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match special_purpose(ip) {
            Some(reason) if !self.allowed(ip) => Err(Refused {
                host: None,
                ip,
                reason,
            }),
            _ => Ok(()),
        }
    }

    /// The allowed addresses of `host` (a name or an IP literal); refused ones are dropped (a rebinding
    /// answer mixing public and private addresses reaches only the public one), and a name left with none
    /// is refused.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, EgressError> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            self.check_ip(ip)?;
            return Ok(vec![ip]);
        }
        let lookup_error = |error| EgressError::Lookup {
            host: host.to_string(),
            error,
        };
        let addrs = self.resolve.lookup(host).await.map_err(lookup_error)?;
        if addrs.is_empty() {
            return Err(lookup_error(std::io::Error::other("no addresses")));
        }
        let mut refused = None;
        let allowed: Vec<IpAddr> = addrs
            .into_iter()
            .filter(|ip| match self.check_ip(*ip) {
                Ok(()) => true,
                Err(r) => {
                    refused.get_or_insert(r);
                    false
                }
            })
            .collect();
        match refused {
            Some(mut r) if allowed.is_empty() => {
                r.host = Some(host.to_string());
                Err(r.into())
            }
            _ => Ok(allowed),
        }
    }

    /// The IP-literal host of a URL checked (names are checked by [`Resolver`] when they are resolved).
    pub fn check_literal(&self, url: &url::Url) -> Result<(), Refused> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// The check when a channel is saved: a literal or a name that resolves to a refused address is an
    /// error for the admin now. A name that does not resolve yet is accepted (every send checks again).
    pub async fn check_on_save(&self, field: &str, host: &str) -> Result<(), String> {
        match tokio::time::timeout(SAVE_LOOKUP_TIMEOUT, self.resolve(host)).await {
            Ok(Err(EgressError::Refused(r))) => Err(format!("{field}: {r}")),
            Ok(Err(EgressError::Lookup { .. })) | Err(_) | Ok(Ok(_)) => Ok(()),
        }
    }
}

/// reqwest's DNS hook: resolves through the egress policy, so a connection only ever goes to checked
/// addresses.
pub struct Resolver(pub Arc<Egress>);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.0.clone();
        Box::pin(async move {
            let addrs = egress.resolve(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The refusal in an error's source chain, if that is why it failed.
pub fn refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r);
        }
        if let Some(EgressError::Refused(r)) = err.downcast_ref::<EgressError>() {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_purpose_ranges_are_named() {
        for (addr, want) in [
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "link-local"),
            ("10.1.2.3", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.100.100.200", "carrier-grade"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00:ec2::254", "unique local"),
            // IPv6 forms that reach IPv4: mapped, NAT64, 6to4.
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:a9fe:a9fe::1", "link-local"),
        ] {
            let why = special_purpose(ip(addr)).unwrap_or_else(|| panic!("{addr} is special"));
            assert!(why.contains(want), "{addr}: {why}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert_eq!(special_purpose(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn allow_list_opens_only_its_networks() {
        let e = Egress::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(e.check_ip(ip("127.0.0.1")).is_ok());
        assert!(e.check_ip(ip("::ffff:127.0.0.1")).is_ok());
        assert!(e.check_ip(ip("169.254.169.254")).is_err());
        assert!(e.check_ip(ip("::1")).is_err());
        assert!(e.check_ip(ip("8.8.8.8")).is_ok());
    }

    struct Fixed(Vec<IpAddr>);
    impl Resolve for Fixed {
        fn lookup<'a>(&'a self, _: &'a str) -> Lookup<'a> {
            let addrs = self.0.clone();
            Box::pin(async move { Ok(addrs) })
        }
    }

    #[tokio::test]
    async fn refused_addresses_are_dropped_and_a_name_without_others_refused() {
        let mixed = Egress::with_resolver(
            vec![],
            Arc::new(Fixed(vec![ip("10.0.0.7"), ip("93.184.216.34")])),
        );
        assert_eq!(
            mixed.resolve("mixed.example").await.unwrap(),
            vec![ip("93.184.216.34")]
        );
        assert!(mixed.check_on_save("url", "mixed.example").await.is_ok());
        let private = Egress::with_resolver(vec![], Arc::new(Fixed(vec![ip("10.0.0.7")])));
        let err = private
            .resolve("db.internal")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("db.internal resolves to 10.0.0.7") && err.contains("private"),
            "{err}"
        );
        assert!(private.check_on_save("url", "db.internal").await.is_err());
        let err = private.resolve("[::1]").await.unwrap_err().to_string();
        assert!(err.starts_with("::1 is a"), "{err}");
    }
}
