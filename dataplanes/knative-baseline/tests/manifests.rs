//! The generated Knative manifests, parsed back and checked field by field against the chain
//! spec: the knobs under Knative's names, the arguments that make every call go through the
//! ingress, and the names and hosts the local model and `knative-remote` use.

use knative_baseline::manifests::{self, Options, CHAIN_IN_IMAGE};
use knative_baseline::names;
use serde::Deserialize;
use serde_yaml::Value;
use std::path::Path;

fn chain(extra: &str) -> workloads::Chain {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workloads/chains/call-tree.toml");
    let text = std::fs::read_to_string(&path).unwrap() + extra;
    workloads::parse_chain(&text, &path).unwrap()
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml).map(|d| Value::deserialize(d).unwrap()).filter(|v| !v.is_null()).collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

#[test]
fn every_field_matches_the_chain_spec() {
    let knobs = "\n[knative]\ncontainerConcurrency = 8\nmax-scale = 3\ntarget-burst-capacity = -1\ntimeoutSeconds = 42\nscale-to-zero-grace-period = \"1m30s\"\nstable-window = \"20s\"\n";
    let c = chain(knobs);
    let o = Options { image: "registry.local/sb:1".into(), ..Options::default() };
    let all = docs(&manifests::services_yaml(&c, &o));
    assert_eq!(all[0]["kind"], "Namespace");
    assert_eq!(all[0]["metadata"]["name"], o.namespace.as_str());
    let services: Vec<&Value> = all.iter().filter(|d| d["kind"] == "Service").collect();
    assert_eq!(services.len(), c.functions.len() + 1, "one service per function plus the gateway");
    let hosts: Vec<(u16, String)> = c
        .functions
        .iter()
        .map(|f| (f.id, names::host(&names::function_service(&c, f), &o.namespace, &o.domain)))
        .collect();
    for svc in &services {
        assert_eq!(svc["apiVersion"], "serving.knative.dev/v1");
        assert_eq!(svc["metadata"]["namespace"], o.namespace.as_str());
        let name = s(&svc["metadata"]["name"]);
        assert!(name.len() <= 63 && name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'));
        let t = &svc["spec"]["template"];
        let ann = &t["metadata"]["annotations"];
        let container = &t["spec"]["containers"][0];
        assert_eq!(container["image"], "registry.local/sb:1");
        assert_eq!(container["ports"][0]["containerPort"], 8080);
        let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().map(s).collect();
        assert_eq!(&args[..2], ["component", "knative"]);
        assert!(args.contains(&format!("--chain={CHAIN_IN_IMAGE}").as_str()));
        assert!(args.contains(&"--listen=0.0.0.0:8080"));
        assert!(args.contains(&format!("--via={}", o.via).as_str()), "calls go out through the ingress");
        for (id, host) in &hosts {
            assert!(args.contains(&format!("--peer={id}={host}").as_str()), "{name}: peer {id} at {host}");
        }
        let f = c.functions.iter().find(|f| names::function_service(&c, f) == name);
        let (serving, port) = match f {
            Some(f) => {
                assert_eq!(args[2], "function");
                assert!(args.contains(&format!("--id={}", f.id).as_str()));
                (f.serving, "h2c")
            }
            None => {
                assert_eq!(name, names::gateway_service(&c));
                assert_eq!(args[2], "gateway");
                // Its timeout is the chain spec's, which the image carries (chain.toml).
                assert!(!args.iter().any(|a| a.starts_with("--timeout-ms")), "{args:?}");
                (knative_baseline::services::gateway_serving(), "http1")
            }
        };
        assert_eq!(container["ports"][0]["name"], port);
        assert_eq!(t["spec"]["containerConcurrency"].as_u64(), Some(serving.container_concurrency as u64), "{name}");
        assert_eq!(t["spec"]["timeoutSeconds"].as_u64(), Some(serving.timeout.as_secs()), "{name}");
        assert_eq!(s(&ann["autoscaling.knative.dev/min-scale"]), serving.min_scale.to_string(), "{name}");
        assert_eq!(s(&ann["autoscaling.knative.dev/max-scale"]), serving.max_scale.to_string(), "{name}");
        assert_eq!(
            s(&ann["autoscaling.knative.dev/target-burst-capacity"]),
            serving.target_burst_capacity.to_string(),
            "{name}"
        );
        if f.is_some() {
            assert_eq!((serving.container_concurrency, serving.max_scale, serving.target_burst_capacity), (8, 3, -1));
            assert_eq!(serving.timeout.as_secs(), 42);
        }
    }
    let cm = all.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["name"], "config-autoscaler");
    assert_eq!(cm["metadata"]["namespace"], "knative-serving");
    let grace = workloads::serving::parse_duration(s(&cm["data"]["scale-to-zero-grace-period"])).unwrap();
    assert_eq!(grace, c.scale_to_zero_grace);
    assert_eq!(s(&cm["data"]["stable-window"]), "20s");
}

#[test]
fn writes_the_files_a_cluster_needs() {
    let c = chain("");
    let dir = std::env::temp_dir().join(format!("sb-manifests-{}", std::process::id()));
    let files = manifests::write(&c, &Options::default(), &dir).unwrap();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(names, ["services.yaml", "Dockerfile", "chain.toml"]);
    assert_eq!(std::fs::read_to_string(dir.join("chain.toml")).unwrap(), c.spec_text);
    let docker = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert!(docker.contains("COPY chain.toml /etc/spright/chain.toml"));
    assert!(docker.contains("librte-ring23"), "the binary's DPDK runtime libraries are installed");
    // The paper's values when the spec says nothing.
    let all = docs(&std::fs::read_to_string(dir.join("services.yaml")).unwrap());
    let f = all.iter().find(|d| d["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("fn"))).unwrap();
    assert_eq!(f["spec"]["template"]["spec"]["containerConcurrency"], 32);
    assert_eq!(f["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"], "1");
    assert_eq!(f["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/target-burst-capacity"], "0");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kind_script_parses_and_pins_its_versions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kind");
    for script in ["up.sh", "down.sh"] {
        let out = std::process::Command::new("bash").arg("-n").arg(dir.join(script)).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let up = std::fs::read_to_string(dir.join("up.sh")).unwrap();
    assert!(up.contains("KNATIVE_VERSION=\"knative-v1."), "Knative version pinned");
    assert!(up.contains("KIND_NODE_IMAGE=\"kindest/node:v1."), "Kubernetes version pinned");
    assert!(up.contains("knative manifests --chain"));
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for need in
        ["Docker engine", "kind", "kubectl", "3 CPUs", "3 GB", "cannot run on a machine without a Docker engine"]
    {
        assert!(readme.contains(need), "README must say it needs {need}");
    }
}
