//! The node agent as a program. (Its work on a real control plane is
//! tested by the repository's tests/kubernetes.rs, which runs this binary.)

use std::process::Command;

#[test]
fn the_agent_without_a_cluster_says_how_to_choose_one() {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mfw-node"))
        .args(["--name", "node-1", "--mfw", "mfw", "--work-dir"])
        .arg(home.path().join("pods"))
        .env("KUBECONFIG", home.path().join("missing-kubeconfig"))
        .env("HOME", home.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no Kubernetes cluster to use"), "{stderr}");
    assert!(stderr.contains("set KUBECONFIG"), "{stderr}");
}
