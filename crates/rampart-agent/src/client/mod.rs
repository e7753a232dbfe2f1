//! The agent's one client of the server, used by the reporter, the remote-configuration poller and the
//! snapshot uploader: the HTTP stack (rustls, the CA to trust, bounded timeouts), the server's URL and the
//! credential the reporter enrolled for it, enrollment itself, how an answer's status is read
//! ([`HttpError`]), and the one retry policy ([`Retry`]).

mod backoff;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rampart_api::agents::{EnrollRequest, EnrollResponse};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

pub use backoff::{Backoff, Retry};

use crate::report::credentials::{load_credentials, Credentials};

/// Why a request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpError {
    /// The server answered with this status and body.
    Status(u16, String),
    /// No answer: connection, TLS, timeout, or an unreadable body.
    Transport(String),
}

impl HttpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status(code, _) => Some(*code),
            HttpError::Transport(_) => None,
        }
    }

    /// Whether the same request would get this answer forever: a 4xx, except 401 (enroll again), 408 and
    /// 429 (later). Sending it again is pointless; what it carried is kept aside instead.
    pub fn permanent(code: u16) -> bool {
        (400..500).contains(&code) && ![401, 408, 429].contains(&code)
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Status(code, body) => write!(f, "server answered {code}: {body}"),
            HttpError::Transport(e) => f.write_str(e),
        }
    }
}

impl From<ureq::Error> for HttpError {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Status(code, r) => {
                HttpError::Status(code, r.into_string().unwrap_or_default())
            }
            e => HttpError::Transport(e.to_string()),
        }
    }
}

pub struct ServerClient {
    http: ureq::Agent,
    base: String,
    spool_dir: PathBuf,
}

impl ServerClient {
    /// A client of `server_url` whose requests take at most `timeout`; the credential is read from
    /// `spool_dir`.
    pub fn new(
        server_url: &str,
        spool_dir: &Path,
        ca_file: Option<&Path>,
        timeout: Duration,
    ) -> anyhow::Result<ServerClient> {
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(timeout)
            .user_agent(concat!("rampart-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca_file {
            builder = builder.tls_config(Arc::new(tls_config(ca)?));
        }
        Ok(ServerClient {
            http: builder.build(),
            base: server_url.trim_end_matches('/').to_string(),
            spool_dir: spool_dir.to_path_buf(),
        })
    }

    pub fn server_url(&self) -> &str {
        &self.base
    }

    /// The credential the reporter enrolled for this server, once it has one.
    pub fn credentials(&self) -> Option<Credentials> {
        load_credentials(&self.spool_dir, &self.base)
    }

    /// Exchanges a single-use enrollment token for the agent's credential.
    pub fn enroll(
        &self,
        token: &str,
        hostname: &str,
        tags: &[String],
    ) -> Result<Credentials, String> {
        let body = EnrollRequest {
            token: token.into(),
            hostname: hostname.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            tags: tags.to_vec(),
        };
        let answer: EnrollResponse = self
            .http
            .post(&self.url("/api/v1/agents/enroll"))
            .send_json(body)
            .map_err(|e| match HttpError::from(e) {
                HttpError::Status(code, body) => format!("enrollment refused ({code}): {body}"),
                e => format!("enrollment: {e}"),
            })?
            .into_json()
            .map_err(|e| format!("enrollment answer: {e}"))?;
        Ok(Credentials {
            agent_id: answer.agent_id,
            secret: answer.secret,
            server: self.base.clone(),
            config_key: Some(answer.config_public_key),
        })
    }

    /// A request authenticated with the agent's `secret`.
    pub fn request(&self, method: &str, path: &str, secret: &str) -> ureq::Request {
        self.http
            .request(method, &self.url(path))
            .set("authorization", &format!("Bearer {secret}"))
    }

    pub fn get(&self, path: &str, secret: &str) -> Result<ureq::Response, HttpError> {
        Ok(self.request("GET", path, secret).call()?)
    }

    pub fn put_json(
        &self,
        path: &str,
        secret: &str,
        body: &impl serde::Serialize,
    ) -> Result<(), HttpError> {
        self.request("PUT", path, secret).send_json(body)?;
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Trust exactly the certificates of `ca` (a private CA) instead of the bundled web roots.
fn tls_config(ca: &Path) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("reading {}: {e}", ca.display()))?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?)?;
    }
    anyhow::ensure!(!roots.is_empty(), "no certificate in {}", ca.display());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_refusals_are_4xx_other_than_auth_timeout_and_rate_limit() {
        for code in [400, 403, 404, 409, 413, 422] {
            assert!(HttpError::permanent(code), "{code}");
        }
        for code in [401, 408, 429, 500, 503] {
            assert!(!HttpError::permanent(code), "{code}");
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let err = ServerClient::new("https://x", dir.path(), Some(&ca), Duration::from_secs(1))
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("no certificate"), "{err}");
    }
}
