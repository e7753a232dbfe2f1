//! `rampart server`: the backend alone (ingest, signals, backend rules, REST API), on SQLite or PostgreSQL.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rampart_server::{bootstrap, Server};

use crate::server_settings::ServerSettings;

#[derive(Debug, Args)]
pub struct ServerCmd {
    /// YAML settings file (the keys are these flags' names with `_`, see docs/server.md); flags and their
    /// RAMPART_* environment variables override its values.
    #[arg(long, env = "RAMPART_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: ServerSettings,
}

impl ServerCmd {
    /// The file's settings (if any), overridden by the flags and variables given.
    pub fn settings(self) -> anyhow::Result<ServerSettings> {
        let file = match &self.config {
            Some(path) => ServerSettings::from_file(path)?,
            None => ServerSettings::default(),
        };
        Ok(self.settings.over(file))
    }
}

/// Raises the soft open-file limit to the hard one: each client connection is a descriptor, and the
/// usual soft default (1024) is below the default connection cap.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Creates the data directory, readable by its owner only.
pub fn data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).ok();
    Ok(())
}

/// Prints how to sign in; the password only on the run that created the account.
pub fn print_first_run(url: &str, first: &bootstrap::FirstRun, token_file: &std::path::Path) {
    println!("Rampart is up: {url}");
    match &first.admin_password {
        Some(p) => {
            println!("  admin user:     {}", first.admin_username);
            println!("  admin password: {p}");
            println!("  (shown only now; stored as an argon2 hash. Sign in with POST {url}/api/v1/auth/login)");
        }
        None => println!(
            "  sign in as {} (its password was printed on the first run)",
            first.admin_username
        ),
    }
    if token_file.exists() {
        println!(
            "  agent enrollment token: {} (single use, 24 h)",
            token_file.display()
        );
    }
}

pub fn run(cmd: ServerCmd) -> anyhow::Result<()> {
    let settings = cmd.settings()?;
    let config = settings.server_config()?;
    let dir = settings.data_dir();
    data_dir(&dir)?;
    raise_open_files_limit();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let server = Server::bind(config).await?;
        let first = bootstrap::ensure_admin(&server.state().db).await?;
        let token_file = bootstrap::ensure_enrollment_token_file(&server.state().db, &dir).await?;
        print_first_run(
            &format!("{scheme}://{}", server.local_addr()),
            &first,
            &token_file,
        );
        server.run(shutdown_signal()).await
    })
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
