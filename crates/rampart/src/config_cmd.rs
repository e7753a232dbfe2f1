//! Remote configuration from the command line: `rampart policies …`, `rampart custom-rules …`,
//! `rampart config …` and `rampart agents list`, thin clients of the server's REST API.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::api_client::{print_json, ApiArgs, ApiClient};

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

fn published(v: &Value) {
    let problems = v["report"]["problems"].as_array().map_or(0, Vec::len);
    println!(
        "published revision {} ({} rules compile, {problems} problems)",
        v["revision"], v["report"]["rules_loaded"]
    );
}

pub fn policies(cmd: PoliciesCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    match cmd.command {
        PoliciesSub::List => {
            let v = c.call("GET", "/api/v1/config", None)?;
            println!(
                "revision {} (default policy {})",
                v["revision"],
                if v["include_default"] == true {
                    "on"
                } else {
                    "off"
                }
            );
            for (name, p) in v["policies"].as_object().into_iter().flatten() {
                println!(
                    "{name}\t{}\ttargets={}\tupdated by {}",
                    p["description"].as_str().unwrap_or(""),
                    p["target_tags"],
                    p["updated_by"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        PoliciesSub::Show { name } => {
            let v = c.call("GET", &format!("/api/v1/policies/{name}"), None)?;
            print!("{}", v["policy"]["content"].as_str().unwrap_or(""));
            Ok(())
        }
        PoliciesSub::Push {
            name,
            file,
            description,
            targets,
            force,
        } => {
            let body = json!({"content": read(&file)?, "description": description, "target_tags": targets, "force": force});
            published(&c.call("PUT", &format!("/api/v1/policies/{name}"), Some(&body))?);
            Ok(())
        }
        PoliciesSub::Delete { name } => {
            published(&c.call("DELETE", &format!("/api/v1/policies/{name}"), None)?);
            Ok(())
        }
        PoliciesSub::Validate { file, name } => {
            let v = c.call(
                "POST",
                "/api/v1/policies/validate",
                Some(&json!({"content": read(&file)?, "name": name})),
            )?;
            print_json(&v["report"])?;
            anyhow::ensure!(v["report"]["ok"] == true, "the policy does not compile");
            Ok(())
        }
        PoliciesSub::Test { file, limit } => {
            let v = c.call(
                "POST",
                "/api/v1/policies/test",
                Some(&json!({"content": read(&file)?, "limit": limit})),
            )?;
            print_json(&v)
        }
    }
}

pub fn custom_rules(cmd: CustomRulesCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    match cmd.command {
        CustomRulesSub::List => print_json(&c.call("GET", "/api/v1/custom-rules", None)?),
        CustomRulesSub::Put {
            id,
            expression,
            severity,
            description,
            remediation,
            targets,
            disabled,
        } => {
            let body = json!({"expression": expression, "severity": severity, "description": description,
                              "remediation": remediation, "target_tags": targets, "enabled": !disabled});
            published(&c.call("PUT", &format!("/api/v1/custom-rules/{id}"), Some(&body))?);
            Ok(())
        }
        CustomRulesSub::Delete { id } => {
            published(&c.call("DELETE", &format!("/api/v1/custom-rules/{id}"), None)?);
            Ok(())
        }
        CustomRulesSub::Test { expression, limit } => {
            let v = c.call(
                "POST",
                "/api/v1/policies/test",
                Some(&json!({"expression": expression, "limit": limit})),
            )?;
            print_json(&v)
        }
    }
}

pub fn config(cmd: ConfigCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    match cmd.command {
        ConfigSub::Show { revision: None } => print_json(&c.call("GET", "/api/v1/config", None)?),
        ConfigSub::Show {
            revision: Some(rev),
        } => print_json(&c.call("GET", &format!("/api/v1/config/revisions/{rev}"), None)?),
        ConfigSub::Revisions { limit } => {
            let v = c.call(
                "GET",
                &format!("/api/v1/config/revisions?limit={limit}"),
                None,
            )?;
            for r in v["revisions"].as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}",
                    r["revision"],
                    r["author"].as_str().unwrap_or(""),
                    r["summary"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        ConfigSub::Rollback { revision } => {
            published(&c.call(
                "POST",
                "/api/v1/config/rollback",
                Some(&json!({"revision": revision})),
            )?);
            Ok(())
        }
        ConfigSub::DefaultPolicy { state } => {
            published(&c.call(
                "PUT",
                "/api/v1/config/default-policy",
                Some(&json!({"include_default": state == "on"})),
            )?);
            Ok(())
        }
        ConfigSub::Rule { id, action } => {
            published(&c.call(
                "PUT",
                &format!("/api/v1/rule-overrides/{id}"),
                Some(&json!({"disabled": action == "disable"})),
            )?);
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
    let v = c.call("GET", "/api/v1/fleet", None)?;
    if json {
        return print_json(&v);
    }
    println!("configuration revision {}", v["revision"]);
    println!("id\thost\tversion\ttags\trevision\tstatus\terrors");
    for a in v["agents"].as_array().into_iter().flatten() {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            a["id"],
            crate::render::escape(a["hostname"].as_str().unwrap_or("")),
            crate::render::escape(a["version"].as_str().unwrap_or("")),
            crate::render::escape(&a["tags"].to_string()),
            a["config_revision"],
            a["config_status"].as_str().unwrap_or(""),
            a["config_errors"].as_array().map_or(0, Vec::len)
        );
    }
    Ok(())
}
