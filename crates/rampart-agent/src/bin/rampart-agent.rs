//! `rampart-agent --config /etc/rampart/agent.yaml`: the agent alone, without the `rampart` CLI (and without
//! the server it links). Every setting is in the file (docs/agent.md); `rampart agent` is the same daemon
//! with flags on top.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rampart_agent::daemon::{AgentConfig, Daemon};

const USAGE: &str = "usage: rampart-agent --config FILE   (the keys: docs/agent.md)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = match args.as_slice() {
        [flag, path] if flag == "--config" => std::path::PathBuf::from(path),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    rampart_agent::daemon::init_logging();
    match run(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let config = AgentConfig::from_file(path)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Daemon::run(config, &stop)
}
