//! `rampart server --config FILE`: a setting comes from the file unless its environment variable or flag
//! says otherwise, and a file with an unknown key stops the server before it starts, naming the key.

use std::process::Command;

use rampart_testkit::rampart_process::Launch;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

#[test]
fn the_file_then_the_environment_then_the_flags_decide() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file");
    let from_env = dir.path().join("from-env");
    let config = dir.path().join("server.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nlisten: 127.0.0.1:1\nretain_matches: 7d\npublic_url: https://rampart.example\n",
            from_file.display()
        ),
    )
    .unwrap();
    // Launch passes `--listen 127.0.0.1:0`: the flag beats the file's port 1.
    let server = Launch::server(BIN)
        .arg("--config")
        .arg(&config)
        .env("RAMPART_DATA_DIR", &from_env)
        .start();
    let url = server.url().expect("the server's URL").to_owned();
    assert!(!url.ends_with(":1"), "{url}");
    let resp = ureq::get(&format!("{url}/healthz")).call().unwrap();
    assert_eq!(resp.status(), 200);
    server.stop();
    // The variable's data directory holds the database, the file's was never created.
    assert!(from_env.join("rampart.db").exists());
    assert!(from_env.join("secrets.key").exists());
    assert!(!from_file.exists());
}

#[test]
fn an_unknown_key_stops_the_server_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.yaml");
    std::fs::write(&config, "listen: 127.0.0.1:0\nretain_matchs: 7d\n").unwrap();
    let out = Command::new(BIN)
        .args(["server", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `retain_matchs`"), "{stderr}");
    assert!(stderr.contains(&*config.to_string_lossy()), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing started");
    // A bad value in a variable is refused the same way a bad flag is.
    let out = Command::new(BIN)
        .args(["server", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("RAMPART_RETAIN_MATCHES", "0s")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("an age of 0"), "{stderr}");
}
