//! Shared by the end-to-end tests that run the real `rampart server` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// A child process stopped with SIGTERM (and waited for) on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// A `rampart server` on a loopback port with its own data directory, signed in as the admin.
pub struct Server {
    _proc: Proc,
    pub url: String,
    pub token: String,
    pub data: PathBuf,
}

/// Starts `rampart server` (plus `extra` flags) with its data under `dir/server`, waits for its URL and the
/// admin password it prints on the first run, and signs in.
pub fn start_server(dir: &Path, extra: &[&str]) -> Server {
    let data = dir.join("server");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["server", "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting rampart server");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut url, mut password) = (None, None);
    while url.is_none() || password.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server prints its URL and the admin password");
        if let Some(u) = line.strip_prefix("Rampart is up: ") {
            url = Some(u.trim().to_string());
        }
        if let Some(p) = line.trim().strip_prefix("admin password: ") {
            password = Some(p.to_string());
        }
    }
    let url = url.unwrap();
    let v: Value = ureq::post(&format!("{url}/api/v1/auth/login"))
        .send_json(json!({"username": "admin", "password": password.unwrap()}))
        .unwrap()
        .into_json()
        .unwrap();
    Server {
        _proc: Proc(child),
        url,
        token: v["token"].as_str().unwrap().to_string(),
        data,
    }
}
