//! A thin client of the server's REST API for the CLI's remote commands: where the server is and which
//! token to use come from flags or the environment, and an API error is shown with the server's reason.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use rampart_api::error::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Server base URL.
    #[arg(
        long,
        env = "RAMPART_SERVER",
        default_value = "http://127.0.0.1:7878",
        global = true
    )]
    pub server: String,
    /// API or session token (`rampart` never prints it).
    #[arg(long, env = "RAMPART_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// File holding the token, instead of --token.
    #[arg(long, value_name = "FILE", global = true)]
    pub token_file: Option<PathBuf>,
}

pub struct ApiClient {
    base: String,
    token: String,
    http: ureq::Agent,
}

impl ApiClient {
    pub fn new(args: &ApiArgs) -> anyhow::Result<ApiClient> {
        let token = match (&args.token, &args.token_file) {
            (Some(t), _) => t.clone(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .with_context(|| format!("reading {}", f.display()))?
                .trim()
                .to_string(),
            (None, None) => bail!(
                "no API token: pass --token, --token-file or set RAMPART_TOKEN (create one with \
                 POST /api/v1/tokens, or sign in with POST /api/v1/auth/login)"
            ),
        };
        Ok(ApiClient {
            base: args.server.trim_end_matches('/').to_string(),
            token,
            http: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(60))
                .build(),
        })
    }

    /// [`ApiClient::send`] for the routes without a `rampart_api` type yet.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        self.send(method, path, body)
    }

    /// Sends a request and decodes the answer as a `T` of the wire contract (a field the server no longer
    /// sends is a decode error naming it, not an empty value); a 4xx/5xx becomes an error carrying the
    /// server's message (and problem list).
    pub fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let decode = |v: Value| {
            serde_json::from_value(v)
                .with_context(|| format!("{method} {path}: the server's answer does not decode"))
        };
        let req = self
            .http
            .request(method, &format!("{}{path}", self.base))
            .set("authorization", &format!("Bearer {}", self.token));
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match resp {
            Ok(r) if r.status() == 204 => decode(Value::Null),
            Ok(r) => decode(r.into_json().context("reading the server's answer")?),
            Err(ureq::Error::Status(code, r)) => {
                // A proxy's page or an empty body still gives the status.
                let e: Option<ErrorBody> = r.into_json().ok();
                let mut msg = format!(
                    "{method} {path}: {code} {}",
                    e.as_ref().map_or("", |e| e.message.as_str())
                );
                for p in e.iter().flat_map(|e| &e.problems) {
                    msg.push_str(&format!("\n  {} {}: {}", p.policy, p.id, p.error));
                }
                bail!(msg)
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("{method} {path}"))),
        }
    }
}

impl ApiClient {
    /// A GET whose answer is text (exports).
    pub fn text(&self, path: &str) -> anyhow::Result<String> {
        let resp = self
            .http
            .get(&format!("{}{path}", self.base))
            .set("authorization", &format!("Bearer {}", self.token))
            .call();
        match resp {
            Ok(r) => r.into_string().context("reading the server's answer"),
            Err(ureq::Error::Status(code, r)) => {
                bail!("GET {path}: {code} {}", r.into_string().unwrap_or_default())
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("GET {path}"))),
        }
    }
}

/// Pretty JSON on stdout.
pub fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A value as a table cell shows it: its JSON (`["a","b"]`, `null`).
pub fn json_cell(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
