//! Email over SMTP with lettre (tokio, rustls): STARTTLS (default), implicit TLS or plain, optional AUTH,
//! a multipart/alternative message with the plain-text and the HTML rendering. Credentials are refused
//! without TLS. `ca_pem` adds a trust root for a relay with a private CA.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::{DeliveryError, Senders};
use crate::notify::egress::EgressError;
use crate::notify::escape::{html, Format};
use crate::notify::message::Notification;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (refused if the server does not offer it).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host.
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub smtp_host: String,
    #[serde(default = "default_port")]
    pub smtp_port: u16,
    #[serde(default = "default_security")]
    pub security: Security,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// PEM certificate(s) to trust besides the public roots.
    #[serde(default)]
    pub ca_pem: Option<String>,
}

fn default_port() -> u16 {
    587
}
fn default_security() -> Security {
    Security::Starttls
}

fn mailbox(field: &str, s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>()
        .map_err(|e| format!("{field}: {s:?} is not an address ({e})"))
}

fn smtp_error(e: lettre::transport::smtp::Error) -> DeliveryError {
    let status = e.status().map(|c| c.to_string().parse().unwrap_or(0));
    // A reply from the server is its own text (admins only); other errors (connection, TLS) are ours.
    let replied = e.is_permanent() || e.is_transient();
    DeliveryError {
        // 5xx replies will not change on a retry; connection, TLS, timeouts and 4xx may.
        retryable: !e.is_permanent(),
        status,
        message: match status {
            Some(code) if replied => format!("SMTP reply {code}"),
            _ if replied => "SMTP error reply".to_string(),
            _ => format!("SMTP: {e}"),
        },
        retry_after: None,
        response: if replied {
            super::response_snippet(&e.to_string())
        } else {
            None
        },
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.smtp_host.is_empty() || self.smtp_host.len() > 255 {
            return Err("smtp_host: a host name or address".into());
        }
        mailbox("from", &self.from)?;
        if self.to.is_empty() || self.to.len() > 50 {
            return Err("to: 1 to 50 addresses".into());
        }
        for t in &self.to {
            mailbox("to", t)?;
        }
        if self.username.is_some() != self.password.is_some() {
            return Err("username and password go together".into());
        }
        if self.security == Security::None && self.username.is_some() {
            return Err("credentials need security starttls or tls (not sent in clear)".into());
        }
        if let Some(pem) = &self.ca_pem {
            Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("ca_pem: {e}"))?;
        }
        Ok(())
    }

    /// A transport to the checked address of the relay (TLS still verifies `smtp_host`'s name).
    async fn transport(
        &self,
        s: &Senders,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
        let addr = match s.egress.resolve(&self.smtp_host).await {
            Ok(addrs) => addrs[0],
            Err(EgressError::Refused(r)) => return Err(DeliveryError::refused(&r)),
            Err(e) => {
                return Err(DeliveryError {
                    retryable: true,
                    ..DeliveryError::permanent(format!("SMTP: {e}"))
                })
            }
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.to_string())
            .port(self.smtp_port)
            .timeout(Some(s.timeout));
        if self.security != Security::None {
            let mut params = TlsParameters::builder(self.smtp_host.clone());
            if let Some(pem) = &self.ca_pem {
                let cert = Certificate::from_pem(pem.as_bytes()).map_err(smtp_error)?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(smtp_error)?;
            b = b.tls(match self.security {
                Security::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(b.build())
    }

    pub fn message(&self, n: &Notification) -> Result<Message, DeliveryError> {
        let mut b = Message::builder()
            .from(mailbox("from", &self.from).map_err(DeliveryError::permanent)?)
            .subject(n.title(Format::Plain))
            // The same id on every retry: a receiving system can recognise a repeat.
            .message_id(Some(format!(
                "<rampart.{}.{}@rampart.invalid>",
                n.signal_id, n.delivery_id
            )));
        for t in &self.to {
            b = b.to(mailbox("to", t).map_err(DeliveryError::permanent)?);
        }
        let mut title = String::new();
        html(&n.title(Format::Plain), &mut title);
        let doc = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n<h2>{title}</h2>\n{}\n</body></html>\n",
            n.body(Format::Html)
        );
        b.multipart(MultiPart::alternative_plain_html(
            n.body(Format::Plain),
            doc,
        ))
        .map_err(|e| DeliveryError::permanent(format!("building the message: {e}")))
    }

    pub async fn deliver(&self, n: &Notification, s: &Senders) -> Result<u16, DeliveryError> {
        let message = self.message(n)?;
        let response = self
            .transport(s)
            .await?
            .send(message)
            .await
            .map_err(smtp_error)?;
        Ok(response.code().to_string().parse().unwrap_or(250))
    }
}
