//! `rampart notifications channels|rules|deliveries|test|preview …`: a thin client of the server's
//! `/api/v1/notifications` API, authenticated with an API token (`--token`, `--token-file` or
//! `RAMPART_TOKEN`).

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use rampart_api::notifications::{
    ChannelDetail, ChannelList, ChannelPatch, DeliveryDetail, DeliveryList, NewChannel,
    NotificationRuleBody, NotificationRuleDetail, NotificationRuleList, Preview, PreviewRequest,
    TemplateSpec, TestOutcome, TestSend, DEFAULT_RATE_PER_MINUTE,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::api_client::{print_json, ApiArgs, ApiClient};

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

fn template(t: &TemplateArgs) -> anyhow::Result<Option<TemplateSpec>> {
    let read = |v: &Option<String>| v.as_deref().map(value_or_file).transpose();
    let spec = TemplateSpec {
        title: read(&t.title)?,
        body: read(&t.body)?,
    };
    Ok((spec != TemplateSpec::default()).then_some(spec))
}

fn enabled(enable: bool, disable: bool) -> Option<bool> {
    match (enable, disable) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// A channel's `--config`: JSON, or `@FILE` holding JSON.
fn config(s: &str) -> anyhow::Result<Value> {
    serde_json::from_str(&value_or_file(s)?).context("--config is not JSON")
}

/// The rule fields given on the command line (the server checks them as a rule: an unknown one is named).
fn rule_body(
    name: Option<String>,
    enabled: Option<bool>,
    f: &RuleFields,
) -> anyhow::Result<NotificationRuleBody> {
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
        m.insert("template".into(), json!(t));
    }
    Ok(NotificationRuleBody {
        name,
        enabled,
        spec: m,
    })
}

/// The shared API client, rooted at `/api/v1/notifications`.
struct Client(ApiClient);

impl Client {
    fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        self.0
            .send(method, &format!("/api/v1/notifications{path}"), body)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send::<(), T>("GET", path, None)
    }

    /// A request answered with 204 No Content.
    fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.send::<(), Value>("DELETE", path, None).map(drop)
    }
}

/// One line per item of a list answer, or the JSON with `--json`.
fn table<L: Serialize, T>(
    list: &L,
    items: &[T],
    json: bool,
    line: fn(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        return print_json(list);
    }
    for item in items {
        println!("{}", crate::render::escape(&line(item)));
    }
    Ok(())
}

fn on_off(enabled: bool) -> &'static str {
    if enabled {
        "enabled"
    } else {
        "disabled"
    }
}

pub fn run(cmd: NotificationsCmd) -> anyhow::Result<ExitCode> {
    let c = Client(ApiClient::new(&cmd.api)?);
    let json = cmd.json;
    match cmd.command {
        What::Channels(ChannelCmd::List) => {
            let list: ChannelList = c.get("/channels")?;
            table(&list, &list.channels, json, |ch| {
                format!(
                    "{}  {}  {}  {}",
                    ch.id,
                    ch.kind,
                    on_off(ch.enabled),
                    ch.name
                )
            })?
        }
        What::Channels(ChannelCmd::Get { id }) => {
            print_json(&c.get::<ChannelDetail>(&format!("/channels/{id}"))?)?
        }
        What::Channels(ChannelCmd::Create {
            name,
            kind,
            config: cfg,
            rate_per_minute,
            disabled,
            template: t,
        }) => {
            let body = NewChannel {
                name,
                kind,
                config: config(&cfg)?,
                enabled: !disabled,
                rate_per_minute: rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE),
                template: template(&t)?,
            };
            print_json(&c.send::<_, ChannelDetail>("POST", "/channels", Some(&body))?)?
        }
        What::Channels(ChannelCmd::Update {
            id,
            name,
            config: cfg,
            rate_per_minute,
            enable,
            disable,
            template: t,
        }) => {
            let body = ChannelPatch {
                name,
                enabled: enabled(enable, disable),
                rate_per_minute,
                config: cfg.as_deref().map(config).transpose()?,
                template: template(&t)?.map(Some),
            };
            let path = format!("/channels/{id}");
            print_json(&c.send::<_, ChannelDetail>("PATCH", &path, Some(&body))?)?
        }
        What::Channels(ChannelCmd::Delete { id }) => c.delete(&format!("/channels/{id}"))?,
        What::Rules(RuleCmd::List) => {
            let list: NotificationRuleList = c.get("/rules")?;
            table(&list, &list.rules, json, |r| {
                format!(
                    "{}  {}  min {}  channels {}  {}",
                    r.id,
                    on_off(r.enabled),
                    r.spec.min_severity,
                    crate::api_client::json_cell(&r.spec.channels),
                    r.name
                )
            })?
        }
        What::Rules(RuleCmd::Get { id }) => {
            print_json(&c.get::<NotificationRuleDetail>(&format!("/rules/{id}"))?)?
        }
        What::Rules(RuleCmd::Create {
            name,
            disabled,
            fields,
        }) => {
            let body = rule_body(Some(name), Some(!disabled), &fields)?;
            print_json(&c.send::<_, NotificationRuleDetail>("POST", "/rules", Some(&body))?)?
        }
        What::Rules(RuleCmd::Update {
            id,
            name,
            enable,
            disable,
            fields,
        }) => {
            let body = rule_body(name, enabled(enable, disable), &fields)?;
            let path = format!("/rules/{id}");
            print_json(&c.send::<_, NotificationRuleDetail>("PATCH", &path, Some(&body))?)?
        }
        What::Rules(RuleCmd::Delete { id }) => c.delete(&format!("/rules/{id}"))?,
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
            let list: DeliveryList = c.get(&format!("/deliveries{q}"))?;
            table(&list, &list.deliveries, json, |d| {
                format!(
                    "{}  {}  signal {}  {} {}  attempts {}  {}",
                    d.id,
                    d.status,
                    d.signal_id,
                    d.event,
                    d.channel.name,
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("")
                )
            })?
        }
        What::Deliveries(DeliveryCmd::Get { id }) => {
            print_json(&c.get::<DeliveryDetail>(&format!("/deliveries/{id}"))?)?
        }
        What::Deliveries(DeliveryCmd::Retry { id }) => {
            let path = format!("/deliveries/{id}/retry");
            print_json(&c.send::<(), DeliveryDetail>("POST", &path, None)?)?
        }
        What::Test { channel, signal } => {
            let body = TestSend { signal_id: signal };
            let path = format!("/channels/{channel}/test");
            let outcome: TestOutcome = c.send("POST", &path, Some(&body))?;
            print_json(&outcome)?;
            if !outcome.delivered {
                return Ok(ExitCode::FAILURE);
            }
        }
        What::Preview {
            signal,
            channel,
            template: t,
        } => {
            let body = PreviewRequest {
                signal_id: signal,
                channel_id: channel,
                template: template(&t)?,
                event: None,
            };
            print_json(&c.send::<_, Preview>("POST", "/preview", Some(&body))?)?
        }
    }
    Ok(ExitCode::SUCCESS)
}
