use serde_json::Value;

use crate::{berth, run};

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
#[cfg(target_os = "linux")]
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

#[cfg(target_os = "linux")]
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
    let text = crate::stdout(&output);
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

/// A loopback port that answers HTTP, but not as a Docker API: what a user's `DOCKER_HOST`
/// may point at by mistake. Answers every connection with `body`, until the test ends.
fn not_docker_at(body: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("tcp://{address}")
}

/// Without a Docker engine, off Linux nothing can run sessions: doctor fails and says what to
/// install there. On Linux bubblewrap runs them, so the same finding is only a warning. And
/// an engine address that answers as something else, or names another machine, is said so.
#[test]
fn the_docker_engine_is_named_or_what_to_install_is_said() {
    let home = tempfile::tempdir().unwrap();
    let docker = |host: &str| {
        let output = run(berth(home.path(), &["--json", "doctor"]).env("DOCKER_HOST", host));
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
        (
            output.status.success(),
            finding(&report, "docker_api").clone(),
        )
    };
    // Port 1 on loopback: nothing listens there.
    let (ok, nothing) = docker("tcp://127.0.0.1:1");
    let detail = nothing["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("tcp://127.0.0.1:1 (found by DOCKER_HOST) does not answer"),
        "{nothing}"
    );
    let fix = nothing["fix"].as_str().unwrap();
    if cfg!(target_os = "linux") {
        assert_eq!(nothing["verdict"], "warn", "{nothing}");
        assert!(fix.contains("apt-get install podman"), "{fix}");
    } else {
        assert_eq!(nothing["verdict"], "fail", "{nothing}");
        assert!(!ok, "off Linux no engine means no sessions");
        let names = if cfg!(windows) {
            "Docker Desktop or Podman Desktop"
        } else {
            "Colima"
        };
        assert!(fix.contains(names), "{fix}");
    }

    let (_, web_page) = docker(&not_docker_at("<html>hello</html>"));
    assert!(
        web_page["detail"]
            .as_str()
            .unwrap()
            .contains("answers, but not as a Docker API does"),
        "{web_page}"
    );

    let (_, elsewhere) = docker("tcp://192.0.2.7:2375");
    assert!(
        elsewhere["detail"]
            .as_str()
            .unwrap()
            .contains("is another machine: sessions mount folders of this computer"),
        "{elsewhere}"
    );
}
