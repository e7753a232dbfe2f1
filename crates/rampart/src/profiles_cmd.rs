//! `rampart profiles …` and `rampart dump …`: security profiles and activity dumps, through the server's
//! REST API.

use clap::{Args, Subcommand};
use rampart_api::profiles::{DumpDetail, DumpList, DumpRequest, ProfileList};

use crate::api_client::{json_cell, print_json, ApiArgs, ApiClient};
use crate::render::escape;

#[derive(Debug, Args)]
pub struct ProfilesCmd {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: ProfilesSub,
}

#[derive(Debug, Subcommand)]
enum ProfilesSub {
    /// Profiles grouped by image: tags, status, snapshots, behaviours, score.
    List {
        #[arg(long)]
        image: Option<String>,
    },
    /// One profile with every behaviour and its commonality.
    Show { id: i64 },
    /// A profile as JSON, or as a lockdown policy (`--policy`, optionally `--kill`).
    Export {
        id: i64,
        #[arg(long)]
        policy: bool,
        #[arg(long, requires = "policy")]
        kill: bool,
    },
}

#[derive(Debug, Args)]
pub struct DumpCmd {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: DumpSub,
}

#[derive(Debug, Subcommand)]
enum DumpSub {
    /// Dump a container now (its agent starts within seconds).
    Start {
        container_id: String,
        #[arg(long, default_value = "30m")]
        duration: humantime::Duration,
        #[arg(long)]
        agent: Option<i64>,
    },
    Stop {
        id: i64,
    },
    List,
}

pub fn profiles(cmd: ProfilesCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    match cmd.command {
        ProfilesSub::List { image } => {
            let path = match image {
                Some(i) => format!("/api/v1/profiles?image_name={}", urlencode(&i)),
                None => "/api/v1/profiles".into(),
            };
            let v: ProfileList = c.send::<(), _>("GET", &path, None)?;
            println!("id\timage\ttag\tstatus\tsnapshots\tbehaviours\tscore");
            for p in &v.profiles {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{:.2}",
                    p.id,
                    escape(&p.image_name),
                    escape(&p.image_tag),
                    p.status,
                    p.snapshots,
                    p.behaviors,
                    p.score
                );
            }
            Ok(())
        }
        ProfilesSub::Show { id } => {
            print_json(&c.call("GET", &format!("/api/v1/profiles/{id}"), None)?)
        }
        ProfilesSub::Export { id, policy, kill } => {
            if !policy {
                return print_json(&c.call(
                    "GET",
                    &format!("/api/v1/profiles/{id}/export"),
                    None,
                )?);
            }
            let action = if kill { "kill" } else { "flag" };
            let text = c.text(&format!(
                "/api/v1/profiles/{id}/export?format=policy&action={action}"
            ))?;
            print!("{text}");
            Ok(())
        }
    }
}

pub fn dump(cmd: DumpCmd) -> anyhow::Result<()> {
    let c = ApiClient::new(&cmd.api)?;
    match cmd.command {
        DumpSub::Start {
            container_id,
            duration,
            agent,
        } => {
            let secs = std::time::Duration::from(duration).as_secs().max(1);
            let body = DumpRequest {
                container_id,
                duration: Some(secs),
                agent_id: agent,
            };
            let v: DumpDetail = c.send("POST", "/api/v1/dumps", Some(&body))?;
            println!("dump {} requested", v.dump.id);
            Ok(())
        }
        DumpSub::Stop { id } => {
            c.send::<(), DumpDetail>("DELETE", &format!("/api/v1/dumps/{id}"), None)?;
            println!("dump {id} stopped");
            Ok(())
        }
        DumpSub::List => {
            let v: DumpList = c.send::<(), _>("GET", "/api/v1/dumps", None)?;
            println!("id\tcontainer\tagent\tstate\tby");
            for d in &v.dumps {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    d.id,
                    escape(&d.container_id),
                    json_cell(&d.agent_id),
                    d.state,
                    escape(&d.created_by)
                );
            }
            Ok(())
        }
    }
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
