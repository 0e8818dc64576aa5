use serde_json::Value;

use crate::{berth, run, stdout};

fn finding<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {report}"))
}

/// The setup installs bubblewrap (CI included), so on this machine a real sandbox must start,
/// also when running as root (the probe drops to an unprivileged uid as sessions will).
#[test]
fn on_this_machine_a_real_sandbox_starts_and_doctor_exits_zero() {
    let home = tempfile::tempdir().unwrap();
    let output = run(&mut berth(home.path(), &["--json", "doctor"]));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(
        finding(&report, "bubblewrap")["verdict"],
        "ok",
        "{report:#}"
    );
    assert_eq!(finding(&report, "sandbox")["verdict"], "ok", "{report:#}");
    assert_eq!(finding(&report, "data_dir")["verdict"], "ok", "{report:#}");
    assert_eq!(report["can_run_sessions"], true);
    assert_eq!(report["runtime"], "bubblewrap");
    assert!(output.status.success());
    assert!(
        home.path().join("data").is_dir(),
        "the data dir from BERTH_DATA_DIR was used"
    );
}

#[test]
fn without_bubblewrap_doctor_says_how_to_install_it_and_fails() {
    let home = tempfile::tempdir().unwrap();
    let empty_path = home.path().join("empty-bin");
    std::fs::create_dir(&empty_path).unwrap();
    // No Docker-API engine either: DOCKER_HOST names one that is not there (this machine may
    // run its own Podman service, which the user's explicit choice passes over).
    let no_engine = format!("unix://{}", home.path().join("no-docker.sock").display());
    let output = run(berth(home.path(), &["doctor"])
        .env("PATH", &empty_path)
        .env("DOCKER_HOST", &no_engine)
        .env_remove("XDG_RUNTIME_DIR"));
    let text = stdout(&output);
    assert!(text.contains("FAIL  bubblewrap"), "{text}");
    assert!(text.contains("fix: Install bubblewrap"), "{text}");
    assert!(text.contains("sudo apt-get install bubblewrap"), "{text}");

    // Nothing else can run sessions here, so doctor must say so and exit non-zero.
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("Local sessions cannot run here yet"),
        "{text}"
    );
    assert!(
        text.contains("no-docker.sock"),
        "names the engine it tried: {text}"
    );
}

#[test]
fn an_unusable_data_dir_is_a_failure_with_a_fix() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let data_dir = file.join("data");
    let output = run(&mut berth(
        home.path(),
        &["--json", "--data-dir", data_dir.to_str().unwrap(), "doctor"],
    ));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let data = finding(&report, "data_dir");
    assert_eq!(data["verdict"], "fail");
    assert!(
        data["detail"].as_str().unwrap().contains("a-file"),
        "{data}"
    );
    assert!(
        data["fix"].as_str().unwrap().contains("--data-dir"),
        "{data}"
    );
    assert!(!output.status.success());
}
