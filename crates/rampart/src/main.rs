//! The `rampart` command line: one binary for the agent, the server and the tools around them.

mod monitor;
mod render;
mod rules_cmd;

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
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Monitor(args) => monitor::run(args).map(|()| ExitCode::SUCCESS),
        Command::Rules(cmd) => rules_cmd::run(cmd),
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
