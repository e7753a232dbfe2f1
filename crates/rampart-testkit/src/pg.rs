//! A throwaway PostgreSQL cluster for tests: Debian's binaries, a temp directory, a free loopback port,
//! trust authentication on loopback only. initdb refuses to run as root, so as root the cluster runs as the
//! `postgres` user (`runuser`). Stopped and removed on Drop. [`PgCluster::stop`] and [`PgCluster::resume`]
//! take the database away and bring it back on the same port (outage tests).

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};

use crate::free_port;

pub struct PgCluster {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
    /// `pg_ctl -o` options of the running server (port, socket dir), reused by `resume`.
    options: String,
    next_db: std::sync::atomic::AtomicU32,
}

fn find_bin() -> PathBuf {
    crate::require::postgres_bin().unwrap_or_else(|e| panic!("{e}"))
}

impl PgCluster {
    fn cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    pub fn start() -> PgCluster {
        let bin = find_bin();
        let as_postgres = crate::is_root();
        let dir =
            std::env::temp_dir().join(format!("rampart-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown {} to postgres", dir.display());
        }
        let mut cluster = PgCluster {
            bin,
            dir,
            port: 0,
            as_postgres,
            options: String::new(),
            next_db: 0.into(),
        };
        let data = cluster.dir.join("data");
        let out = cluster
            .cmd("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for _ in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                cluster.dir.display()
            );
            let out = cluster
                .cmd("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(&data)
                .args(["-o", &opts, "-l"])
                .arg(cluster.dir.join("log"))
                .arg("start")
                .output()
                .unwrap();
            if out.status.success() {
                cluster.port = port;
                cluster.options = opts;
                return cluster;
            }
        }
        let log = std::fs::read_to_string(cluster.dir.join("log")).unwrap_or_default();
        panic!("pg_ctl start failed: {log}");
    }

    /// A fresh database in the cluster; returns its URL.
    pub fn new_database(&self) -> String {
        let n = self
            .next_db
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("t{n}");
        let out = self
            .cmd("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
            ])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "create database: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Stops the server (fast shutdown: open connections are cut), keeping the data.
    pub fn stop(&self) {
        let out = self
            .cmd("pg_ctl")
            .args(["-w", "-D"])
            .arg(self.data_dir())
            .args(["-m", "fast", "stop"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the stopped server again on the same port.
    pub fn resume(&self) {
        let out = self
            .cmd("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(self.data_dir())
            .args(["-o", &self.options, "-l"])
            .arg(self.dir.join("log"))
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .args(["-D"])
            .arg(self.data_dir())
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One cluster shared by the tests of a binary while any of them holds it.
pub fn shared() -> Arc<PgCluster> {
    static SHARED: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
    let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = guard.upgrade() {
        return c;
    }
    let c = Arc::new(PgCluster::start());
    *guard = Arc::downgrade(&c);
    c
}
