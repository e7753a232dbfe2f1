//! The Helm chart: `helm lint --strict`, the committed plain manifests equal `helm template`, and the
//! options (TLS, enrollment token, external database) render what the agent and server need.

use std::collections::BTreeSet;
use std::process::Command;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::{repo, run, stdout};

const MANIFESTS: &str = "deploy/kubernetes/manifests/rampart.yaml";

fn helm_template(sets: &[&str]) -> Command {
    let mut cmd = Command::new("helm");
    cmd.args(["template", "rampart"])
        .arg(repo().join("deploy/kubernetes/rampart"))
        .args(["--namespace", "rampart"]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    cmd
}

/// The rendered documents, parsed.
fn render(sets: &[&str]) -> Vec<Value> {
    let text = stdout(&run(&mut helm_template(sets)));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("helm renders YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
}

/// A ConfigMap's embedded settings file, parsed.
fn config_file(docs: &[Value], name: &str, file: &str) -> Value {
    let map = find(docs, "ConfigMap", name).unwrap_or_else(|| panic!("no ConfigMap {name}"));
    serde_yaml_ng::from_str(map["data"][file].as_str().expect("a file")).expect("YAML settings")
}

#[test]
fn the_chart_lints_and_renders_the_committed_manifests() {
    rampart_testkit::require!(helm, "lints and renders the Helm chart");
    let lint = run(Command::new("helm")
        .args(["lint", "--strict"])
        .arg(repo().join("deploy/kubernetes/rampart")));
    assert!(
        stdout(&lint).contains("0 chart(s) failed"),
        "{}",
        stdout(&lint)
    );
    let rendered = stdout(&run(&mut helm_template(&[])));
    let committed = std::fs::read_to_string(repo().join(MANIFESTS)).expect("committed manifests");
    // The committed file is a comment header, then exactly what the chart renders.
    let header_end = committed.find("---").unwrap_or(0);
    assert!(
        committed[..header_end].lines().all(|l| l.starts_with('#')),
        "{MANIFESTS} starts with something other than its comment header"
    );
    assert!(
        committed[header_end..] == rendered,
        "{MANIFESTS} is not what deploy/kubernetes/rampart renders: run scripts/render-manifests and \
         commit the result"
    );
}

#[test]
fn the_default_render_runs_the_agent_with_hostpid_and_least_capabilities() {
    rampart_testkit::require!(helm, "renders the Helm chart");
    let docs = render(&[]);
    let ds = find(&docs, "DaemonSet", "rampart-agent").expect("the agent DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], Value::Bool(true));
    assert_eq!(pod["automountServiceAccountToken"], Value::Bool(false));
    let agent = &pod["containers"][0];
    let sc = &agent["securityContext"];
    assert_eq!(sc["privileged"], Value::Bool(false));
    assert_eq!(sc["allowPrivilegeEscalation"], Value::Bool(false));
    assert_eq!(sc["readOnlyRootFilesystem"], Value::Bool(true));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    let added: BTreeSet<String> = sc["capabilities"]["add"]
        .as_sequence()
        .expect("added capabilities")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert!(!added.contains("SYS_ADMIN"), "{added:?}");
    // The systemd unit gives the agent the same ones.
    assert_eq!(added, super::systemd::agent_capabilities());
    let mounts: BTreeSet<&str> = agent["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    for path in [
        "/etc/rampart/agent.yaml",
        "/var/lib/rampart/agent",
        "/sys/kernel/tracing",
        "/sys/fs/cgroup",
        "/run/containerd",
        "/run/crio",
    ] {
        assert!(mounts.contains(path), "{path} not mounted: {mounts:?}");
    }
    let spool = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str() == Some("spool"))
        .expect("spool volume");
    assert_eq!(
        spool["hostPath"]["path"].as_str(),
        Some("/var/lib/rampart/agent")
    );
    assert_eq!(
        agent["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/metrics")
    );
    assert!(pod["tolerations"][0]["operator"].as_str() == Some("Exists"));
    assert!(agent["resources"]["limits"]["memory"].is_string());
    // The agent's settings file is one rampart reads (every key known), reporting to the server's Service.
    let settings = config_file(&docs, "rampart-agent", "agent.yaml");
    let parsed: rampart_agent::daemon::AgentConfig =
        serde_yaml_ng::from_value(settings.clone()).expect("a valid agent.yaml");
    assert_eq!(
        parsed.server.as_deref(),
        Some("http://rampart-server.rampart.svc:7878")
    );
    assert!(parsed.allow_insecure_http);
    assert_eq!(parsed.metrics_listen, "0.0.0.0:7879".parse().ok());
    // The server: no privilege, its database URL from the Secret's password, PostgreSQL beside it.
    let server = find(&docs, "Deployment", "rampart-server").expect("the server Deployment");
    let pod = &server["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], Value::Bool(true));
    let env = pod["containers"][0]["env"].as_sequence().unwrap();
    let url = env
        .iter()
        .find(|e| e["name"].as_str() == Some("RAMPART_DATABASE_URL"))
        .expect("RAMPART_DATABASE_URL");
    assert_eq!(
        url["value"].as_str(),
        Some("postgres://rampart:$(POSTGRES_PASSWORD)@rampart-postgresql:5432/rampart")
    );
    assert!(find(&docs, "StatefulSet", "rampart-postgresql").is_some());
    assert!(find(&docs, "Service", "rampart-server").is_some());
    // No secret is generated (a re-render would rotate it): none without values.
    assert!(docs.iter().all(|d| d["kind"].as_str() != Some("Secret")));
    let settings = config_file(&docs, "rampart-server", "server.yaml");
    assert_eq!(settings["listen"].as_str(), Some("0.0.0.0:7878"));
}

#[test]
fn tls_an_enrollment_token_and_an_external_database_render_what_they_need() {
    rampart_testkit::require!(helm, "renders the Helm chart");
    let docs = render(&[
        "enrollment.token=tok-123",
        "server.tlsSecretName=rampart-tls",
        "postgresql.enabled=false",
        "externalDatabase.url=postgres://rampart:$(POSTGRES_PASSWORD)@db.example/rampart",
        "agent.config.no_kill=true",
        "server.config.retain_matches=14d",
    ]);
    let secret = find(&docs, "Secret", "rampart-enrollment").expect("the enrollment Secret");
    assert_eq!(secret["stringData"]["token"].as_str(), Some("tok-123"));
    let agent = config_file(&docs, "rampart-agent", "agent.yaml");
    assert_eq!(
        agent["server"].as_str(),
        Some("https://rampart-server.rampart.svc:7878")
    );
    assert_eq!(agent["ca_file"].as_str(), Some("/etc/rampart/tls/ca.crt"));
    assert!(agent.get("allow_insecure_http").is_none());
    assert_eq!(agent["no_kill"], Value::Bool(true));
    let server = config_file(&docs, "rampart-server", "server.yaml");
    assert_eq!(
        server["tls_cert"].as_str(),
        Some("/etc/rampart/tls/tls.crt")
    );
    assert_eq!(server["retain_matches"].as_str(), Some("14d"));
    let probe = &find(&docs, "Deployment", "rampart-server").unwrap()["spec"]["template"]["spec"]
        ["containers"][0]["readinessProbe"];
    assert_eq!(probe["httpGet"]["scheme"].as_str(), Some("HTTPS"));
    assert!(find(&docs, "StatefulSet", "rampart-postgresql").is_none());
    // Without PostgreSQL and without a URL the chart refuses to render, saying what to set.
    let out = helm_template(&["postgresql.enabled=false"])
        .output()
        .expect("helm");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("externalDatabase.url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A misspelt agent setting is refused by the agent, not ignored.
    let docs = render(&["agent.config.no_kil=true"]);
    let agent = config_file(&docs, "rampart-agent", "agent.yaml");
    let err = serde_yaml_ng::from_value::<rampart_agent::daemon::AgentConfig>(agent).unwrap_err();
    assert!(err.to_string().contains("no_kil"), "{err}");
}
