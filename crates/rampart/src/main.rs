use clap::Parser;

/// Rampart: runtime workload protection for Linux.
#[derive(Parser)]
#[command(name = "rampart", version)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
