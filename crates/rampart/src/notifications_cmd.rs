//! `rampart notifications channels|rules|deliveries|test|preview …`: a thin client of the server's
//! `/api/v1/notifications` API, authenticated with an API token (`--token`, `--token-file` or
//! `RAMPART_TOKEN`).

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::api_client::{ApiArgs, ApiClient};

#[derive(Debug, Args)]
pub struct NotificationsCmd {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Print the server's JSON answers as they are.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: What,
}

#[derive(Debug, Subcommand)]
pub enum What {
    /// Where notifications go: slack, pagerduty, webhook, email, teams, opsgenie.
    #[command(subcommand)]
    Channels(ChannelCmd),
    /// Which signals notify which channels.
    #[command(subcommand)]
    Rules(RuleCmd),
    /// The delivery log.
    #[command(subcommand)]
    Deliveries(DeliveryCmd),
    /// Send a test message through a channel now.
    Test {
        channel: i64,
        /// Render this stored signal (default: a made-up one).
        #[arg(long)]
        signal: Option<i64>,
    },
    /// Render a template against a stored signal in every format.
    Preview {
        #[arg(long)]
        signal: i64,
        #[arg(long)]
        channel: Option<i64>,
        #[command(flatten)]
        template: TemplateArgs,
    },
}

#[derive(Debug, Args, Default)]
pub struct TemplateArgs {
    /// Title template (one line), e.g. `[{{ severity }}] {{ rule.name }}`; `@FILE` reads a file.
    #[arg(long)]
    pub title: Option<String>,
    /// Body template (Markdown); `@FILE` reads a file.
    #[arg(long)]
    pub body: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    List,
    Get {
        id: i64,
    },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        kind: String,
        /// The kind's settings as JSON, or `@FILE`.
        #[arg(long)]
        config: String,
        #[arg(long)]
        rate_per_minute: Option<i64>,
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        template: TemplateArgs,
    },
    /// Change the fields given (secrets shown as <redacted> may be sent back as they are).
    Update {
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        config: Option<String>,
        #[arg(long)]
        rate_per_minute: Option<i64>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        template: TemplateArgs,
    },
    Delete {
        id: i64,
    },
}

#[derive(Debug, Args, Default)]
pub struct RuleFields {
    /// Channel id (repeatable).
    #[arg(long = "channel")]
    pub channels: Vec<i64>,
    #[arg(long)]
    pub min_severity: Option<String>,
    /// `agent` or `backend` (repeatable).
    #[arg(long = "source")]
    pub sources: Vec<String>,
    /// Rule id glob (repeatable).
    #[arg(long = "rule-id")]
    pub rule_ids: Vec<String>,
    /// `key:value` or `key` (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    #[arg(long = "container")]
    pub containers: Vec<String>,
    /// `name:tag` glob (repeatable).
    #[arg(long = "image")]
    pub images: Vec<String>,
    /// `created` and/or `escalated` (repeatable).
    #[arg(long = "event")]
    pub events: Vec<String>,
    #[command(flatten)]
    pub template: TemplateArgs,
}

#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    List,
    Get {
        id: i64,
    },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        fields: RuleFields,
    },
    /// Replace the fields given.
    Update {
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        fields: RuleFields,
    },
    Delete {
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeliveryCmd {
    List {
        /// pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        channel: Option<i64>,
        #[arg(long)]
        signal: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    Get {
        id: i64,
    },
    /// Queue a failed delivery again.
    Retry {
        id: i64,
    },
}

/// `@FILE` reads the file; anything else is the value itself.
fn value_or_file(s: &str) -> anyhow::Result<String> {
    match s.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(s.to_string()),
    }
}

fn template(t: &TemplateArgs) -> anyhow::Result<Option<Value>> {
    let mut m = Map::new();
    if let Some(title) = &t.title {
        m.insert("title".into(), json!(value_or_file(title)?));
    }
    if let Some(body) = &t.body {
        m.insert("body".into(), json!(value_or_file(body)?));
    }
    Ok((!m.is_empty()).then_some(Value::Object(m)))
}

fn enabled(enable: bool, disable: bool) -> Option<bool> {
    match (enable, disable) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

fn rule_body(f: &RuleFields) -> anyhow::Result<Map<String, Value>> {
    let mut m = Map::new();
    for (k, v) in [
        ("sources", &f.sources),
        ("rule_ids", &f.rule_ids),
        ("tags", &f.tags),
        ("hosts", &f.hosts),
        ("containers", &f.containers),
        ("images", &f.images),
        ("events", &f.events),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    if !f.channels.is_empty() {
        m.insert("channels".into(), json!(f.channels));
    }
    if let Some(s) = &f.min_severity {
        m.insert("min_severity".into(), json!(s));
    }
    if let Some(t) = template(&f.template)? {
        m.insert("template".into(), t);
    }
    Ok(m)
}

/// The shared API client, rooted at `/api/v1/notifications`.
struct Client(ApiClient);

impl Client {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.0.call(
            method,
            &format!("/api/v1/notifications{path}"),
            body.as_ref(),
        )
    }
}

fn print(v: &Value) {
    if !v.is_null() {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }
}

/// One line per item of a list answer, or the JSON with `--json`.
fn table(v: &Value, key: &str, json: bool, line: fn(&Value) -> String) {
    if json {
        return print(v);
    }
    for item in v[key].as_array().into_iter().flatten() {
        println!("{}", crate::render::escape(&line(item)));
    }
}

pub fn run(cmd: NotificationsCmd) -> anyhow::Result<ExitCode> {
    let c = Client(ApiClient::new(&cmd.api)?);
    let json = cmd.json;
    match cmd.command {
        What::Channels(ChannelCmd::List) => {
            table(&c.call("GET", "/channels", None)?, "channels", json, |ch| {
                format!(
                    "{}  {}  {}  {}",
                    ch["id"],
                    ch["kind"].as_str().unwrap_or(""),
                    if ch["enabled"] == true {
                        "enabled"
                    } else {
                        "disabled"
                    },
                    ch["name"].as_str().unwrap_or("")
                )
            })
        }
        What::Channels(ChannelCmd::Get { id }) => {
            print(&c.call("GET", &format!("/channels/{id}"), None)?)
        }
        What::Channels(ChannelCmd::Create {
            name,
            kind,
            config,
            rate_per_minute,
            disabled,
            template: t,
        }) => {
            let config: Value =
                serde_json::from_str(&value_or_file(&config)?).context("--config is not JSON")?;
            let mut body =
                json!({"name": name, "kind": kind, "config": config, "enabled": !disabled});
            if let Some(r) = rate_per_minute {
                body["rate_per_minute"] = json!(r);
            }
            if let Some(t) = template(&t)? {
                body["template"] = t;
            }
            print(&c.call("POST", "/channels", Some(body))?)
        }
        What::Channels(ChannelCmd::Update {
            id,
            name,
            config,
            rate_per_minute,
            enable,
            disable,
            template: t,
        }) => {
            let mut body = Map::new();
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(cfg) = config {
                let v: Value =
                    serde_json::from_str(&value_or_file(&cfg)?).context("--config is not JSON")?;
                body.insert("config".into(), v);
            }
            if let Some(r) = rate_per_minute {
                body.insert("rate_per_minute".into(), json!(r));
            }
            if let Some(e) = enabled(enable, disable) {
                body.insert("enabled".into(), json!(e));
            }
            if let Some(t) = template(&t)? {
                body.insert("template".into(), t);
            }
            print(&c.call(
                "PATCH",
                &format!("/channels/{id}"),
                Some(Value::Object(body)),
            )?)
        }
        What::Channels(ChannelCmd::Delete { id }) => {
            c.call("DELETE", &format!("/channels/{id}"), None)?;
        }
        What::Rules(RuleCmd::List) => table(&c.call("GET", "/rules", None)?, "rules", json, |r| {
            format!(
                "{}  {}  min {}  channels {}  {}",
                r["id"],
                if r["enabled"] == true {
                    "enabled"
                } else {
                    "disabled"
                },
                r["min_severity"].as_str().unwrap_or(""),
                r["channels"],
                r["name"].as_str().unwrap_or("")
            )
        }),
        What::Rules(RuleCmd::Get { id }) => print(&c.call("GET", &format!("/rules/{id}"), None)?),
        What::Rules(RuleCmd::Create {
            name,
            disabled,
            fields,
        }) => {
            let mut body = rule_body(&fields)?;
            body.insert("name".into(), json!(name));
            body.insert("enabled".into(), json!(!disabled));
            print(&c.call("POST", "/rules", Some(Value::Object(body)))?)
        }
        What::Rules(RuleCmd::Update {
            id,
            name,
            enable,
            disable,
            fields,
        }) => {
            let mut body = rule_body(&fields)?;
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(e) = enabled(enable, disable) {
                body.insert("enabled".into(), json!(e));
            }
            print(&c.call("PATCH", &format!("/rules/{id}"), Some(Value::Object(body)))?)
        }
        What::Rules(RuleCmd::Delete { id }) => {
            c.call("DELETE", &format!("/rules/{id}"), None)?;
        }
        What::Deliveries(DeliveryCmd::List {
            status,
            channel,
            signal,
            limit,
        }) => {
            let mut q = format!("?limit={limit}");
            if let Some(s) = status {
                q.push_str(&format!("&status={s}"));
            }
            if let Some(ch) = channel {
                q.push_str(&format!("&channel_id={ch}"));
            }
            if let Some(s) = signal {
                q.push_str(&format!("&signal_id={s}"));
            }
            table(
                &c.call("GET", &format!("/deliveries{q}"), None)?,
                "deliveries",
                json,
                |d| {
                    format!(
                        "{}  {}  signal {}  {} {}  attempts {}  {}",
                        d["id"],
                        d["status"].as_str().unwrap_or(""),
                        d["signal_id"],
                        d["event"].as_str().unwrap_or(""),
                        d["channel"]["name"].as_str().unwrap_or(""),
                        d["attempts"],
                        d["last_error"].as_str().unwrap_or("")
                    )
                },
            )
        }
        What::Deliveries(DeliveryCmd::Get { id }) => {
            print(&c.call("GET", &format!("/deliveries/{id}"), None)?)
        }
        What::Deliveries(DeliveryCmd::Retry { id }) => {
            print(&c.call("POST", &format!("/deliveries/{id}/retry"), None)?)
        }
        What::Test { channel, signal } => {
            let body = match signal {
                Some(s) => json!({"signal_id": s}),
                None => json!({}),
            };
            let v = c.call("POST", &format!("/channels/{channel}/test"), Some(body))?;
            print(&v);
            if v["delivered"] != true {
                return Ok(ExitCode::FAILURE);
            }
        }
        What::Preview {
            signal,
            channel,
            template: t,
        } => {
            let mut body = json!({"signal_id": signal});
            if let Some(ch) = channel {
                body["channel_id"] = json!(ch);
            }
            if let Some(t) = template(&t)? {
                body["template"] = t;
            }
            print(&c.call("POST", "/preview", Some(body))?)
        }
    }
    Ok(ExitCode::SUCCESS)
}
