//! The `rampart` command line: one binary for the agent, the server and the tools around them.

mod agent_cmd;
mod api_client;
mod config_cmd;
mod monitor;
mod notifications_cmd;
mod profiles_cmd;
mod render;
mod rules_cmd;
mod server_cmd;
mod server_settings;
mod up_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Rampart: runtime workload protection for Linux.
#[derive(Parser)]
#[command(name = "rampart", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attach the probes and print rule matches (and events with --events) in the foreground.
    Monitor(monitor::MonitorArgs),
    /// Check policies (`rules check`) and evaluate them over recorded events (`rules test`).
    Rules(rules_cmd::RulesCommand),
    /// Agent, server and UI on this host (SQLite under --data-dir), on http://127.0.0.1:7878.
    Up(up_cmd::UpCmd),
    /// The backend alone: ingest, signals, backend rules, REST API (SQLite or PostgreSQL).
    Server(server_cmd::ServerCmd),
    /// The agent alone, reporting its matches to a server.
    Agent(agent_cmd::AgentCmd),
    /// Remotely configured policies: list, show, push, delete, validate, test (server API).
    Policies(config_cmd::PoliciesCmd),
    /// Remotely configured single rules: list, put, delete, test (server API).
    CustomRules(config_cmd::CustomRulesCmd),
    /// The fleet configuration: show, revisions, rollback, default policy, rule on/off (server API).
    Config(config_cmd::ConfigCmd),
    /// The fleet: each agent's configuration revision and status (server API).
    Agents(config_cmd::AgentsCmd),
    /// Security profiles: list, show, export as JSON or as a lockdown policy (server API).
    Profiles(profiles_cmd::ProfilesCmd),
    /// Activity dumps on demand: start, stop, list (server API).
    Dump(profiles_cmd::DumpCmd),
    /// Notification channels, rules and deliveries on a server (REST API client).
    Notifications(notifications_cmd::NotificationsCmd),
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Monitor(args) => monitor::run(args).map(|()| ExitCode::SUCCESS),
        Command::Rules(cmd) => rules_cmd::run(cmd),
        Command::Up(cmd) => up_cmd::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Server(cmd) => server_cmd::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Agent(cmd) => agent_cmd::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Policies(cmd) => config_cmd::policies(cmd).map(|()| ExitCode::SUCCESS),
        Command::CustomRules(cmd) => config_cmd::custom_rules(cmd).map(|()| ExitCode::SUCCESS),
        Command::Config(cmd) => config_cmd::config(cmd).map(|()| ExitCode::SUCCESS),
        Command::Agents(cmd) => config_cmd::agents(cmd).map(|()| ExitCode::SUCCESS),
        Command::Profiles(cmd) => profiles_cmd::profiles(cmd).map(|()| ExitCode::SUCCESS),
        Command::Dump(cmd) => profiles_cmd::dump(cmd).map(|()| ExitCode::SUCCESS),
        Command::Notifications(cmd) => notifications_cmd::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries events), filtered by `RUST_LOG` (default: warnings).
fn init_tracing() {
    rampart_agent::daemon::init_logging();
}
