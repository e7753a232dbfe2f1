//! Which server URLs the agent will talk to. Over plain `http://` anyone on the path reads the agent's
//! credential and, at enrollment, answers with their own bundle-signing key, which the agent would pin and
//! then obey. So: `https://`, or `http://` to a loopback address (whoever can intercept loopback is root on
//! the host already), or any `http://` when the operator says so explicitly.

/// Refuses a server URL the agent must not enroll with or send its credential to.
pub fn check_server_url(url: &str, allow_insecure_http: bool) -> anyhow::Result<()> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        anyhow::bail!("server URL {url:?}: use https://HOST[:PORT] (or http:// on loopback)");
    };
    if allow_insecure_http || is_loopback(host_of(rest)) {
        return Ok(());
    }
    anyhow::bail!(
        "refusing plain http to {url}: a man in the middle would read the agent's credential and, at \
         enrollment, make it pin his own configuration-signing key. Use https:// (with --ca-file for a \
         private CA), or --allow-insecure-http if this network is trusted"
    )
}

/// The host of `host[:port][/path]`, without brackets for an IPv6 literal.
fn host_of(authority_and_path: &str) -> &str {
    let authority = authority_and_path
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_only_unless_allowed() {
        for ok in [
            "https://rampart.example:7878",
            "http://127.0.0.1:7878",
            "http://127.3.4.5",
            "http://[::1]:7878/",
            "http://localhost:7878",
        ] {
            assert!(check_server_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.5:7878",
            "http://rampart.example",
            "http://127.0.0.1.evil.example:7878",
            "http://127.0.0.1@evil.example",
            "http://[::ffff:10.0.0.1]:80",
            "ftp://127.0.0.1",
        ] {
            let err = check_server_url(bad, false).unwrap_err().to_string();
            assert!(err.contains("http"), "{bad}: {err}");
        }
        assert!(check_server_url("http://10.0.0.5:7878", true).is_ok());
        assert!(check_server_url("ftp://10.0.0.5", true).is_err());
    }
}
