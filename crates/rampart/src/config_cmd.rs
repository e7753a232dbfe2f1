//! Remote configuration from the command line: `rampart policies …`, `rampart custom-rules …`,
//! `rampart config …` and `rampart agents list`, thin clients of the server's REST API.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use rampart_api::config::{
    ConfigRevision, CustomRuleList, CustomRuleRequest, DefaultPolicyRequest, Fleet,
    OverrideRequest, PolicyDetail, PolicyRequest, Published, RevisionList, RollbackRequest,
    TestRequest, TestResult, ValidateRequest, ValidateResult,
};

use crate::api_client::{json_cell, print_json, ApiArgs, ApiClient};

#[derive(Debug, Args)]
pub struct PoliciesCmd {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: PoliciesSub,
}

#[derive(Debug, Subcommand)]
enum PoliciesSub {
    /// Custom policies of the newest configuration revision.
    List,
    /// One policy's content.
    Show {
        name: String,
    },
    /// Create or replace a policy from a file and publish it to the fleet.
    Push {
        name: String,
        file: PathBuf,
        #[arg(long, default_value = "")]
        description: String,
        /// Only agents with this tag get the policy (repeatable: all of them).
        #[arg(long = "target", value_name = "TAG")]
        targets: Vec<String>,
        /// Publish even if rules fail to compile (agents will refuse it and keep their rules).
        #[arg(long)]
        force: bool,
    },
    Delete {
        name: String,
    },
    /// Compile a policy file with the current configuration, publishing nothing.
    Validate {
        file: PathBuf,
        /// The policy it would replace.
        #[arg(long)]
        name: Option<String>,
    },
    /// Evaluate a policy file over the most recent events agents reported.
    Test {
        file: PathBuf,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
}

#[derive(Debug, Args)]
pub struct CustomRulesCmd {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: CustomRulesSub,
}

#[derive(Debug, Subcommand)]
enum CustomRulesSub {
    List,
    /// Create or replace a rule and publish it.
    Put {
        id: String,
        #[arg(long)]
        expression: String,
        #[arg(long, default_value = "medium")]
        severity: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "")]
        remediation: String,
        #[arg(long = "target", value_name = "TAG")]
        targets: Vec<String>,
        #[arg(long)]
        disabled: bool,
    },
    Delete {
        id: String,
    },
    /// Evaluate one expression over the most recent reported events.
    Test {
        expression: String,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
}

#[derive(Debug, Args)]
pub struct ConfigCmd {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: ConfigSub,
}

#[derive(Debug, Subcommand)]
enum ConfigSub {
    /// The newest configuration, or revision REV.
    Show { revision: Option<i64> },
    /// The configuration's history.
    Revisions {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Make revision REV's configuration the newest again.
    Rollback { revision: i64 },
    /// Turn the embedded default policy on or off for the fleet.
    DefaultPolicy {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Disable or re-enable any rule (the default policy's included) on the fleet.
    Rule {
        id: String,
        #[arg(value_parser = ["enable", "disable"])]
        action: String,
    },
}

#[derive(Debug, Args)]
pub struct AgentsCmd {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: AgentsSub,
}

#[derive(Debug, Subcommand)]
enum AgentsSub {
    /// Every agent with its configuration revision and status.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agent's credential; its host cannot enroll again until readmitted.
    Revoke { id: i64 },
    /// Let a revoked agent's host enroll again (it needs a new enrollment token).
    Readmit { id: i64 },
}

fn read(file: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

fn published(p: Published) {
    match p.report {
        Some(r) => println!(
            "published revision {} ({} rules compile, {} problems)",
            p.revision,
            r.rules_loaded,
            r.problems.len()
        ),
        None => println!("published revision {} (not compiled)", p.revision),
    }
}

pub fn policies(cmd: PoliciesCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    match cmd.command {
        PoliciesSub::List => {
            let v: ConfigRevision = c.send::<(), _>("GET", "/api/v1/config", None)?;
            println!(
                "revision {} (default policy {})",
                v.revision,
                if v.include_default { "on" } else { "off" }
            );
            for (name, p) in &v.policies {
                println!(
                    "{name}\t{}\ttargets={}\tupdated by {}",
                    p.description,
                    json_cell(&p.target_tags),
                    p.updated_by
                );
            }
            Ok(())
        }
        PoliciesSub::Show { name } => {
            let v: PolicyDetail =
                c.send::<(), _>("GET", &format!("/api/v1/policies/{name}"), None)?;
            print!("{}", v.policy.content);
            Ok(())
        }
        PoliciesSub::Push {
            name,
            file,
            description,
            targets,
            force,
        } => {
            let body = PolicyRequest {
                content: read(&file)?,
                description,
                target_tags: targets,
                force,
            };
            published(c.send("PUT", &format!("/api/v1/policies/{name}"), Some(&body))?);
            Ok(())
        }
        PoliciesSub::Delete { name } => {
            published(c.send::<(), _>("DELETE", &format!("/api/v1/policies/{name}"), None)?);
            Ok(())
        }
        PoliciesSub::Validate { file, name } => {
            let body = ValidateRequest {
                content: read(&file)?,
                name,
            };
            let v: ValidateResult = c.send("POST", "/api/v1/policies/validate", Some(&body))?;
            print_json(&v.report)?;
            anyhow::ensure!(v.report.ok, "the policy does not compile");
            Ok(())
        }
        PoliciesSub::Test { file, limit } => {
            let body = TestRequest {
                content: Some(read(&file)?),
                limit: Some(limit),
                ..Default::default()
            };
            print_json(&c.send::<_, TestResult>("POST", "/api/v1/policies/test", Some(&body))?)
        }
    }
}

pub fn custom_rules(cmd: CustomRulesCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    match cmd.command {
        CustomRulesSub::List => {
            print_json(&c.send::<(), CustomRuleList>("GET", "/api/v1/custom-rules", None)?)
        }
        CustomRulesSub::Put {
            id,
            expression,
            severity,
            description,
            remediation,
            targets,
            disabled,
        } => {
            let body = CustomRuleRequest {
                expression,
                severity: Some(severity),
                description,
                remediation,
                target_tags: targets,
                enabled: Some(!disabled),
                tags: Default::default(),
                force: false,
            };
            published(c.send("PUT", &format!("/api/v1/custom-rules/{id}"), Some(&body))?);
            Ok(())
        }
        CustomRulesSub::Delete { id } => {
            published(c.send::<(), _>("DELETE", &format!("/api/v1/custom-rules/{id}"), None)?);
            Ok(())
        }
        CustomRulesSub::Test { expression, limit } => {
            let body = TestRequest {
                expression: Some(expression),
                limit: Some(limit),
                ..Default::default()
            };
            print_json(&c.send::<_, TestResult>("POST", "/api/v1/policies/test", Some(&body))?)
        }
    }
}

pub fn config(cmd: ConfigCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    match cmd.command {
        ConfigSub::Show { revision } => {
            let path = match revision {
                None => "/api/v1/config".to_string(),
                Some(rev) => format!("/api/v1/config/revisions/{rev}"),
            };
            print_json(&c.send::<(), ConfigRevision>("GET", &path, None)?)
        }
        ConfigSub::Revisions { limit } => {
            let path = format!("/api/v1/config/revisions?limit={limit}");
            let v: RevisionList = c.send::<(), _>("GET", &path, None)?;
            for r in &v.revisions {
                println!("{}\t{}\t{}", r.revision, r.author, r.summary);
            }
            Ok(())
        }
        ConfigSub::Rollback { revision } => {
            let body = RollbackRequest { revision };
            published(c.send("POST", "/api/v1/config/rollback", Some(&body))?);
            Ok(())
        }
        ConfigSub::DefaultPolicy { state } => {
            let body = DefaultPolicyRequest {
                include_default: state == "on",
            };
            published(c.send("PUT", "/api/v1/config/default-policy", Some(&body))?);
            Ok(())
        }
        ConfigSub::Rule { id, action } => {
            let body = OverrideRequest {
                disabled: action == "disable",
                target_tags: Vec::new(),
            };
            published(c.send("PUT", &format!("/api/v1/rule-overrides/{id}"), Some(&body))?);
            Ok(())
        }
    }
}

pub fn agents(cmd: AgentsCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    let json = match cmd.command {
        AgentsSub::List { json } => json,
        AgentsSub::Revoke { id } => {
            c.call("DELETE", &format!("/api/v1/agents/{id}"), None)?;
            println!("agent {id} revoked: its host stays out until `rampart agents readmit {id}`");
            return Ok(());
        }
        AgentsSub::Readmit { id } => {
            c.call("POST", &format!("/api/v1/agents/{id}/readmit"), None)?;
            println!("agent {id}'s host may enroll again, with a new enrollment token");
            return Ok(());
        }
    };
    let v: Fleet = c.send::<(), _>("GET", "/api/v1/fleet", None)?;
    if json {
        return print_json(&v);
    }
    println!("configuration revision {}", v.revision);
    println!("id\thost\tversion\ttags\trevision\tstatus\terrors");
    for a in &v.agents {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            a.id,
            crate::render::escape(&a.hostname),
            crate::render::escape(&a.version),
            crate::render::escape(&json_cell(&a.tags)),
            a.config_revision,
            a.config_status,
            a.config_errors.len()
        );
    }
    Ok(())
}
