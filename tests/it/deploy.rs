//! The Kubernetes manifests of `deploy/kubernetes`, rendered by its `render.sh` for a given shard count and
//! checked without a cluster: every document a well-formed object of its kind, the references between
//! them resolved (volumes, the ConfigMap, the Secret, the Service's ports), the scenario carried unchanged,
//! and every `wschaos` command line in them one that the binary's own parser accepts.

use std::collections::BTreeSet;
use std::process::Command;

use clap::Parser;
use serde_yaml::Value;

use crate::support::repo_path;

fn render(shards: u32, scenario: &str) -> Vec<Value> {
    let output = Command::new("sh")
        .arg(repo_path("deploy/kubernetes/render.sh"))
        .arg(shards.to_string())
        .arg(repo_path(scenario))
        .arg("registry.example/wschaos:test")
        .env("RUN_ID", "ci-run")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text).map(|doc| Value::deserialize(doc).unwrap()).collect()
}

use serde::Deserialize as _;

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// The pod spec of a Deployment or Job.
fn pod(doc: &Value) -> &Value {
    &doc["spec"]["template"]["spec"]
}

/// Every volume a container mounts is one its pod defines, and every ConfigMap, Secret and claim the pod
/// names is among `defined`.
fn check_references(doc: &Value, defined: &BTreeSet<(String, String)>) {
    let spec = pod(doc);
    let volumes: BTreeSet<&str> = spec["volumes"].as_sequence().unwrap().iter().map(|v| text(&v["name"])).collect();
    let containers = spec["containers"].as_sequence().unwrap().iter();
    let init = spec["initContainers"].as_sequence().into_iter().flatten();
    for container in containers.chain(init) {
        assert!(container["image"] == "registry.example/wschaos:test", "{container:?}");
        for mount in container["volumeMounts"].as_sequence().unwrap() {
            assert!(
                volumes.contains(text(&mount["name"])),
                "{} mounts an undefined volume",
                text(&doc["metadata"]["name"])
            );
        }
        for env in container["env"].as_sequence().into_iter().flatten() {
            let secret = &env["valueFrom"]["secretKeyRef"];
            assert!(defined.contains(&("Secret".into(), text(&secret["name"]).into())), "{env:?}");
        }
    }
    for volume in spec["volumes"].as_sequence().unwrap() {
        if let Some(name) = volume["configMap"]["name"].as_str() {
            assert!(defined.contains(&("ConfigMap".into(), name.into())), "{volume:?}");
        }
        if let Some(name) = volume["persistentVolumeClaim"]["claimName"].as_str() {
            assert!(defined.contains(&("PersistentVolumeClaim".into(), name.into())), "{volume:?}");
        }
    }
}

/// A shell command line of a manifest, with the pod's environment filled in, as words.
fn words(line: &str, index: u32) -> Vec<String> {
    let line = line
        .replace("\"$JOB_COMPLETION_INDEX", &index.to_string())
        .replace("$JOB_COMPLETION_INDEX", &index.to_string());
    let command = line.split(" & ").next().unwrap().split(';').next().unwrap();
    command.split_whitespace().map(|w| w.trim_matches('"').to_owned()).filter(|w| w != "exec").collect()
}

#[test]
fn the_manifests_for_n_shards_hold_together_and_run_the_binary_s_own_command_lines() {
    let shards = 4;
    let docs = render(shards, "scenarios/smoke.toml");
    for doc in &docs {
        assert!(
            doc["apiVersion"].is_string() && doc["kind"].is_string() && doc["metadata"]["name"].is_string(),
            "{doc:?}"
        );
    }
    let defined: BTreeSet<(String, String)> =
        docs.iter().map(|d| (text(&d["kind"]).to_owned(), text(&d["metadata"]["name"]).to_owned())).collect();
    let kinds: Vec<&str> = docs.iter().map(|d| text(&d["kind"])).collect();
    assert_eq!(kinds, ["ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service", "Job", "Job"]);

    // The scenario, unchanged; a token of its own.
    let scenario = std::fs::read_to_string(repo_path("scenarios/smoke.toml")).unwrap();
    assert_eq!(text(&find(&docs, "ConfigMap", "wschaos-scenario")["data"]["scenario.toml"]), scenario);
    assert_eq!(text(&find(&docs, "Secret", "wschaos-control")["stringData"]["token"]).len(), 32);

    // The mock: its ports behind the Service, its command line the binary's.
    let mock = find(&docs, "Deployment", "wschaos-mock");
    check_references(mock, &defined);
    let service = find(&docs, "Service", "wschaos-mock");
    let selector = &service["spec"]["selector"];
    assert_eq!(&mock["spec"]["template"]["metadata"]["labels"], selector);
    let ports: Vec<u64> =
        service["spec"]["ports"].as_sequence().unwrap().iter().map(|p| p["port"].as_u64().unwrap()).collect();
    assert_eq!(ports, [9443, 9444]);
    let args: Vec<String> =
        pod(mock)["containers"][0]["args"].as_sequence().unwrap().iter().map(|a| text(a).to_owned()).collect();
    wschaos::Cli::try_parse_from(std::iter::once("wschaos".to_owned()).chain(args)).unwrap();

    // The shards: an Indexed Job of N pods, pod I running shard I/N against the Service.
    let job = find(&docs, "Job", "wschaos-shards-ci-run");
    check_references(job, &defined);
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"].as_u64(), Some(u64::from(shards)));
    assert_eq!(job["spec"]["parallelism"].as_u64(), Some(u64::from(shards)));
    let line = text(&pod(job)["containers"][0]["args"][0]);
    assert!(
        line.contains("[ -f \"/runs/ci-run/shard-$JOB_COMPLETION_INDEX/records.json\" ]"),
        "a shard succeeds once it wrote its records: {line}"
    );
    assert!(line.contains("trap 'kill -TERM"), "the shell passes SIGTERM on: {line}");
    assert_eq!(
        mock["spec"]["template"]["metadata"]["annotations"]["wschaos/run"], "ci-run",
        "a new run restarts the mock"
    );
    for index in [0, shards - 1] {
        let cli = wschaos::Cli::try_parse_from(words(line, index)).unwrap_or_else(|e| panic!("{line}: {e}"));
        let wschaos::cli::Command::Run(run) = cli.command else { panic!("{line}: not a run") };
        assert_eq!(run.shard.map(|s| (s.index, s.count)), Some((index, shards)));
        assert!(run.barrier && run.allow_remote);
        assert_eq!(run.target.as_deref(), Some("ws://wschaos-mock:9443"));
        assert_eq!(run.control.as_deref(), Some("wschaos-mock:9444"));
        assert_eq!(run.out.unwrap().display().to_string(), format!("/runs/ci-run/shard-{index}"));
        assert_eq!(run.metrics, Some("0.0.0.0:9464".parse().unwrap()), "each shard serves its metrics");
    }
    // Off loopback the endpoint needs its token: the run's, from the Secret; the port is named for scraping.
    let container = &pod(job)["containers"][0];
    let env = container["env"].as_sequence().unwrap();
    let token = env.iter().find(|e| e["name"] == "WSCHAOS_METRICS_TOKEN").expect("the metrics token");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "wschaos-control");
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(9464));
    assert_eq!(job["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"], "9464");

    // The merge: it waits for N shards' records and merges them into the run's directory.
    let merge = find(&docs, "Job", "wschaos-merge-ci-run");
    check_references(merge, &defined);
    let wait = text(&pod(merge)["initContainers"][0]["args"][0]);
    assert!(wait.contains("/runs/ci-run/shard-*/records.json") && wait.contains(&format!("-ge {shards}")), "{wait}");
    let line = text(&pod(merge)["containers"][0]["args"][0]);
    let cli = wschaos::Cli::try_parse_from(words(line, 0)).unwrap_or_else(|e| panic!("{line}: {e}"));
    let wschaos::cli::Command::Merge(merge) = cli.command else { panic!("{line}: not a merge") };
    assert_eq!(merge.out.display().to_string(), "/runs/ci-run/merged");
}

#[test]
fn render_refuses_a_shard_count_that_is_no_number() {
    for bad in ["0", "x", "5000"] {
        let output = Command::new("sh")
            .arg(repo_path("deploy/kubernetes/render.sh"))
            .args([bad, "scenarios/smoke.toml"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("SHARDS must be a number"), "{bad}");
    }
}

/// Runs a manifest's shell line (Kubernetes passes it to `sh -c`, `$$` being its escape of `$`) with the
/// run's directory at `runs` and a stand-in `wschaos` (`fake`, a shell script) first on the PATH.
fn run_line(line: &str, runs: &std::path::Path, fake: &str, index: u32) -> std::process::Output {
    let bin = runs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("wschaos");
    std::fs::write(&exe, format!("#!/bin/sh\n{fake}\n")).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let line = line.replace("/runs/ci-run", &runs.display().to_string()).replace("$$", "$");
    let child = Command::new("sh")
        .arg("-c")
        .arg(line)
        .env("PATH", path)
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::support::wait_bounded(child, std::time::Duration::from_secs(60))
}

#[test]
fn a_shard_that_fails_ends_the_merge_s_wait_and_one_that_measured_succeeds() {
    let docs = render(2, "scenarios/smoke.toml");
    let shard = text(&pod(find(&docs, "Job", "wschaos-shards-ci-run"))["containers"][0]["args"][0]).to_owned();
    let wait = text(&pod(find(&docs, "Job", "wschaos-merge-ci-run"))["initContainers"][0]["args"][0]).to_owned();
    let runs = crate::support::scratch_dir("deploy-shard-scripts");
    // Shard 0 measured (its records written) and its criteria failed: the pod succeeds all the same.
    let measured = r#"out=""; while [ $# -gt 0 ]; do [ "$1" = --out ] && out="$2"; shift; done
mkdir -p "$out" && echo '{}' > "$out/records.json"; exit 1"#;
    assert_eq!(run_line(&shard, &runs, measured, 0).status.code(), Some(0));
    assert!(runs.join("shard-0/records.json").is_file() && !runs.join("shard-0.failed").exists());
    // Shard 1 never reached its mock: the pod fails with its code, and leaves the mark.
    assert_eq!(run_line(&shard, &runs, "exit 4", 1).status.code(), Some(4));
    assert_eq!(std::fs::read_to_string(runs.join("shard-1.failed")).unwrap().trim(), "4");
    // The merge's wait ends at once (not after its 2 hours) and fails, naming the shard.
    let waited = run_line(&wait, &runs, "exit 0", 0);
    let said = String::from_utf8_lossy(&waited.stdout);
    assert_eq!(waited.status.code(), Some(2), "{said}");
    assert!(said.contains("shard-1.failed: the shard exited 4"), "{said}");
}
