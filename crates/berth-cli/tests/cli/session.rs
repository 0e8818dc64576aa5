//! `berth session …` with real sandboxes: sessions outlive the command that made them, exec
//! passes output and status through, and the app's rules (mount plans) hold here too.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use crate::{berth, http_get, local_address, run, spawn_first_line, stdout};

/// A home whose session runtime dir a root-run Berth's `nobody` sessions can reach.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    home
}

fn with_runtime<'a>(
    command: &'a mut std::process::Command,
    home: &std::path::Path,
) -> &'a mut std::process::Command {
    command.env("BERTH_RUNTIME_DIR", home.join("run"))
}

fn ok(home: &std::path::Path, args: &[&str]) -> String {
    let output = run(with_runtime(&mut berth(home, args), home));
    assert!(
        output.status.success(),
        "berth {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// Destroys the session when the test ends, pass or fail.
struct Cleanup<'a>(&'a std::path::Path, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = run(with_runtime(
            &mut berth(self.0, &["session", "destroy", &self.1]),
            self.0,
        ));
    }
}

#[test]
fn a_session_outlives_the_command_that_made_it_and_exec_passes_everything_through() {
    let home = home();
    let h = home.path();
    ok(h, &["folder", "create", "user2-vfolder"]);
    let id = ok(
        h,
        &[
            "session",
            "create",
            "--name",
            "cli-test",
            "--mount",
            "user2-vfolder",
        ],
    )
    .trim()
    .to_owned();
    let _cleanup = Cleanup(h, id.clone());

    // `create` has exited; the session still runs, under its supervisor.
    let list: serde_json::Value =
        serde_json::from_str(&ok(h, &["--json", "session", "list"])).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "running");
    assert_eq!(list[0]["mounts"][0]["target"], "/home/work/user2-vfolder");

    let script = "echo 'file inside user2-vfolder' > user2-vfolder/test_file; echo out; echo err >&2; exit 4";
    let output = run(with_runtime(
        &mut berth(
            h,
            &["session", "exec", "cli-test", "--", "bash", "-c", script],
        ),
        h,
    ));
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(stdout(&output), "out\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "err\n");

    let mut cat = with_runtime(&mut berth(h, &["session", "exec", &id, "--", "cat"]), h)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cat.stdin.take().unwrap().write_all(b"piped in\n").unwrap();
    let cat = cat.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "piped in\n");

    // A shell reads commands from stdin when it is not a terminal.
    let mut shell = with_runtime(&mut berth(h, &["session", "shell", &id]), h)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo answer=$((6*7)) $(hostname)\nexit 0\n")
        .unwrap();
    let shell = shell.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&shell.stdout).contains("answer=42 cli-test"),
        "{}",
        String::from_utf8_lossy(&shell.stdout)
    );

    let destroyed: serde_json::Value =
        serde_json::from_str(&ok(h, &["--json", "session", "destroy", &id])).unwrap();
    assert_eq!(destroyed["status"], "terminated");
    assert!(ok(h, &["files", "ls", "user2-vfolder"]).contains("test_file"));
    let exec_after = run(with_runtime(
        &mut berth(h, &["session", "exec", &id, "--", "true"]),
        h,
    ));
    assert!(!exec_after.status.success());
    assert!(String::from_utf8_lossy(&exec_after.stderr).contains("not running"));
}

#[test]
fn a_batch_session_ends_with_its_status_and_keeps_its_output() {
    let home = home();
    let h = home.path();
    let id = ok(
        h,
        &[
            "session",
            "create",
            "--type",
            "batch",
            "--command",
            "echo computed; exit 2",
        ],
    )
    .trim()
    .to_owned();
    let _cleanup = Cleanup(h, id.clone());
    let info = (0..100)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(30));
            serde_json::from_str::<serde_json::Value>(&ok(h, &["--json", "session", "info", &id]))
                .unwrap()
        })
        .find(|info| info["status"] != "running")
        .expect("the batch session ended");
    assert_eq!(info["status"], "terminated");
    assert_eq!(info["exit_code"], 2);
    assert!(ok(h, &["session", "logs", &id]).contains("computed"));
    // The host environment's /usr is the host's own: never a writable copy.
    assert_eq!(info["writable_root"], false);
    assert!(
        ok(h, &["session", "info", &id]).contains("system:      read-only"),
        "{}",
        ok(h, &["session", "info", &id])
    );
}

#[test]
fn a_bad_mount_is_refused_with_its_code_and_starts_nothing() {
    let home = home();
    let h = home.path();
    ok(h, &["folder", "create", "a"]);
    let output = run(with_runtime(
        &mut berth(
            h,
            &["--json", "session", "create", "--mount", "a:../../etc"],
        ),
        h,
    ));
    assert!(!output.status.success());
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(error["code"], "invalid_input");
    assert!(error["message"].as_str().unwrap().contains("\"a\""));
    assert_eq!(ok(h, &["--json", "session", "list"]).trim(), "[]");
}

/// `--var NAME=VALUE` reaches an exec in the session, `session info` lists the variables, and
/// a malformed or bad one is refused with what to write instead, starting nothing.
#[test]
fn variables_given_with_var_reach_the_session_and_info_lists_them() {
    let home = home();
    let h = home.path();
    let id = ok(
        h,
        &[
            "session",
            "create",
            "--var",
            "GREETING=hello world",
            "--var",
            "EQUATION=a=b",
            "--var",
            "EMPTY=",
        ],
    )
    .trim()
    .to_owned();
    let _cleanup = Cleanup(h, id.clone());
    let output = run(with_runtime(
        &mut berth(
            h,
            &[
                "session",
                "exec",
                &id,
                "--",
                "bash",
                "-c",
                r#"echo "$GREETING|$EQUATION|${EMPTY-unset}""#,
            ],
        ),
        h,
    ));
    assert_eq!(
        stdout(&output),
        "hello world|a=b|\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let info = ok(h, &["session", "info", &id]);
    assert!(
        info.contains("variables:\n  GREETING=hello world\n  EQUATION=a=b\n  EMPTY=\n"),
        "{info}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(h, &["--json", "session", "info", &id])).unwrap();
    assert_eq!(
        json["environ"][0],
        serde_json::json!({ "name": "GREETING", "value": "hello world" })
    );

    let malformed = run(with_runtime(
        &mut berth(h, &["session", "create", "--var", "GREETING"]),
        h,
    ));
    assert!(!malformed.status.success());
    let said = String::from_utf8_lossy(&malformed.stderr);
    assert!(
        said.contains("\"GREETING\" is not NAME=VALUE") && said.contains("GREETING=VALUE"),
        "{said}"
    );
    let bad = run(with_runtime(
        &mut berth(h, &["--json", "session", "create", "--var", "MY-VAR=1"]),
        h,
    ));
    assert!(!bad.status.success());
    let error: serde_json::Value = serde_json::from_slice(&bad.stderr).unwrap();
    assert_eq!(error["code"], "invalid_input");
    assert!(
        error["message"].as_str().unwrap().contains("\"MY-VAR\""),
        "{error}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&ok(h, &["--json", "session", "list"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

/// As an ordinary user (root runs the CLI as `nobody` for this): a file uploaded and directories
/// made while a session runs are writable inside it, as the files there at its start are. (As
/// root, the engine tests prove the same for both runtimes.)
#[test]
fn as_an_ordinary_user_what_berth_writes_while_a_session_runs_is_writable_in_it() {
    // SAFETY: geteuid cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    let home = home();
    let h = home.path();
    // The binaries go where nobody can reach them (the checkout may be under a private home).
    let bin = h.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_berth"));
    for name in ["berth", "berth-supervisor"] {
        let from = [
            built.with_file_name(name),
            built.parent().unwrap().join("..").join(name),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} is not built next to {}", built.display()));
        std::fs::copy(&from, bin.join(name)).unwrap();
    }
    std::fs::write(h.join("notes.txt"), "from this computer\n").unwrap();
    if as_root {
        let status = std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(h)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let user = |args: &[&str]| -> String {
        let mut command = if as_root {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(bin.join("berth"));
            c
        } else {
            std::process::Command::new(bin.join("berth"))
        };
        command
            .args(args)
            .env("HOME", h)
            .env("BERTH_DATA_DIR", h.join("data"))
            .env("BERTH_CONFIG_DIR", h.join("config"))
            .env("BERTH_RUNTIME_DIR", h.join("run"))
            .env_remove("RUST_LOG");
        let output = run(&mut command);
        assert!(
            output.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout(&output)
    };
    user(&["folder", "create", "w"]);
    // No network: an ordinary user may not be allowed to open /dev/net/tun.
    let id = user(&["session", "create", "--mount", "w", "--network", "none"])
        .trim()
        .to_owned();
    let notes = h.join("notes.txt");
    let result = std::panic::catch_unwind(|| {
        user(&["upload", "w", &notes.to_string_lossy()]);
        user(&["files", "mkdir", "w", "made/in/explorer"]);
        user(&[
            "session",
            "exec",
            &id,
            "--",
            "bash",
            "-c",
            "echo more >> w/notes.txt && echo new > w/made/in/explorer/new.txt && \
             mkdir w/made/sub && cat w/notes.txt",
        ])
    });
    user(&["session", "destroy", &id]);
    let out = result.unwrap();
    assert_eq!(out, "from this computer\nmore\n");
}

/// Waits for batch session `id` to end; its `session info`.
fn ended(h: &std::path::Path, id: &str) -> serde_json::Value {
    (0..200)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(30));
            serde_json::from_str::<serde_json::Value>(&ok(h, &["--json", "session", "info", id]))
                .unwrap()
        })
        .find(|info| info["status"] != "running")
        .expect("the batch session ended")
}

/// A saved setup launches as saved (folder at its alias, read-only; variables; network; batch
/// command), flags given at launch change only what they name, and a template whose folder is
/// gone is refused before anything starts.
#[test]
fn a_template_launches_its_setup_with_overrides_and_never_half_of_one() {
    let home = home();
    let h = home.path();
    ok(h, &["folder", "create", "data"]);
    let info: serde_json::Value =
        serde_json::from_str(&ok(h, &["--json", "folder", "info", "data"])).unwrap();
    let root = std::path::PathBuf::from(info["path"].as_str().unwrap());
    std::fs::write(root.join("marker.txt"), b"m").unwrap();
    ok(
        h,
        &[
            "template",
            "save",
            "probe",
            "--type",
            "batch",
            "--command",
            "ls /data; echo epochs=$EPOCHS; touch /data/w 2>/dev/null || echo read-only",
            "--mount",
            "data:/data:ro",
            "--var",
            "EPOCHS=3",
            "--network",
            "none",
        ],
    );

    let id = ok(h, &["session", "create", "--template", "probe"])
        .trim()
        .to_owned();
    let _cleanup = Cleanup(h, id.clone());
    let info = ended(h, &id);
    assert_eq!(info["network"], "none", "{info:#}");
    assert_eq!(info["exit_code"], 0, "{info:#}");
    let logs = ok(h, &["session", "logs", &id]);
    for line in ["marker.txt", "epochs=3", "read-only"] {
        assert!(logs.contains(line), "{line} in {logs}");
    }

    let changed = ok(
        h,
        &[
            "session",
            "create",
            "--template",
            "probe",
            "--var",
            "EPOCHS=5",
        ],
    )
    .trim()
    .to_owned();
    let _cleanup_changed = Cleanup(h, changed.clone());
    ended(h, &changed);
    let logs = ok(h, &["session", "logs", &changed]);
    assert!(
        logs.contains("epochs=5") && logs.contains("marker.txt"),
        "{logs}"
    );

    let before = ok(h, &["--json", "session", "list"]);
    ok(h, &["folder", "delete", "data"]);
    let refused = run(with_runtime(
        &mut berth(h, &["session", "create", "--template", "probe"]),
        h,
    ));
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("\"data\""),
        "names the missing folder: {said}"
    );
    assert_eq!(
        ok(h, &["--json", "session", "list"]),
        before,
        "nothing was launched"
    );
}

/// `session stats`: a session that burns CPU shows it, an idle one does not, and an ended one
/// is refused (nothing runs to measure).
#[test]
fn stats_show_a_busy_session_busy_and_an_idle_one_idle() {
    let home = home();
    let h = home.path();
    let create = |args: &[&str]| {
        let mut all = vec!["session", "create"];
        all.extend(args);
        ok(h, &all).trim().to_owned()
    };
    let busy = create(&[
        "--type",
        "batch",
        "--command",
        "timeout 60 sh -c 'while :; do :; done'",
    ]);
    let _busy = Cleanup(h, busy.clone());
    let idle = create(&[]);
    let _idle = Cleanup(h, idle.clone());
    let stats = |id: &str| -> serde_json::Value {
        serde_json::from_str(&ok(h, &["--json", "session", "stats", id])).unwrap()
    };

    let working = stats(&busy);
    // A spinning shell holds most of a core; a loaded machine still gives it far more than this.
    assert!(working["cpu_percent"].as_f64().unwrap() > 30.0, "{working}");
    assert!(working["memory_bytes"].as_u64().unwrap() > 0, "{working}");
    let resting = stats(&idle);
    assert!(resting["cpu_percent"].as_f64().unwrap() < 30.0, "{resting}");
    let line = ok(h, &["session", "stats", &idle]);
    assert!(
        line.starts_with("CPU ") && line.contains("memory"),
        "{line}"
    );

    ok(h, &["session", "destroy", &idle]);
    let ended = run(with_runtime(&mut berth(h, &["session", "stats", &idle]), h));
    assert!(!ended.status.success());
    assert!(
        String::from_utf8_lossy(&ended.stderr).contains("is not running"),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
}

#[test]
fn session_open_prints_a_local_url_first_and_forwards_until_interrupted() {
    let home = home();
    let h = home.path();
    let id = ok(h, &["session", "create", "--network", "none"]);
    let id = id.trim().to_owned();
    let _cleanup = Cleanup(h, id.clone());
    ok(
        h,
        &[
            "session",
            "exec",
            &id,
            "--",
            "sh",
            "-c",
            "cd /home/work && echo served > page.txt && setsid python3 -m http.server 8771 \
             --bind 127.0.0.1 </dev/null >/dev/null 2>&1 & for i in $(seq 100); do \
             python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8771))' \
             2>/dev/null && exit 0; sleep 0.1; done; exit 1",
        ],
    );
    let (mut open, first) = spawn_first_line(with_runtime(
        &mut berth(h, &["session", "open", &id, "8771", "--no-browser"]),
        h,
    ));
    let address = local_address(&first);
    let answer = http_get(&address, "/page.txt");
    assert!(answer.ends_with("served\n"), "{answer}");
    // Listed while it is open, by any other berth on this computer.
    let listed: serde_json::Value =
        serde_json::from_str(&ok(h, &["--json", "session", "ports", &id])).unwrap();
    assert_eq!(listed[0]["port"], 8771, "{listed}");
    assert_eq!(listed[0]["local"], address.as_str(), "{listed}");
    // Interrupted, as Ctrl-C does: the forward and its port go with it.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(open.id() as libc::pid_t, libc::SIGINT) };
    assert!(open.wait().unwrap().success());
    assert!(std::net::TcpStream::connect(&address).is_err());
    assert_eq!(ok(h, &["session", "ports"]), "No ports are forwarded.\n");

    // Opened to other computers only when asked, with a warning: reached at this computer's
    // own network address, while the local URL stays on loopback; closed with the rest.
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut shared = with_runtime(
        &mut berth(
            h,
            &[
                "session",
                "open",
                &id,
                "8771",
                "--no-browser",
                "--share",
                &format!("0.0.0.0:{port}"),
            ],
        ),
        h,
    )
    .stderr(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut said = String::new();
    let mut stderr = std::io::BufReader::new(shared.stderr.take().unwrap());
    while !said.contains("Warning") {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "ended before the warning: {said}"
        );
        said.push_str(&line);
    }
    assert!(said.contains("also open to other computers"), "{said}");
    let own = String::from_utf8(
        std::process::Command::new("hostname")
            .arg("-I")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let own = own
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .expect("a network address of this computer")
        .to_owned();
    let answer = http_get(&format!("{own}:{port}"), "/page.txt");
    assert!(answer.ends_with("served\n"), "{answer}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(shared.id() as libc::pid_t, libc::SIGINT) };
    assert!(shared.wait().unwrap().success());
    assert!(std::net::TcpStream::connect(format!("{own}:{port}")).is_err());
    let typo = run(with_runtime(
        &mut berth(h, &["session", "open", &id, "8771", "--share", "everyone"]),
        h,
    ));
    assert!(!typo.status.success());
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("--share everyone: give an address"),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );

    // Nothing on the port: refused in words, nothing listens.
    let refused = run(with_runtime(
        &mut berth(h, &["session", "open", &id, "8772", "--no-browser"]),
        h,
    ));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Nothing listens on port 8772"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn session_open_ssh_prints_a_command_that_logs_in_and_ssh_config_names_the_session() {
    let home = home();
    let h = home.path();
    let id = ok(
        h,
        &[
            "session",
            "create",
            "--name",
            "cli-ssh",
            "--network",
            "none",
        ],
    );
    let id = id.trim().to_owned();
    let _cleanup = Cleanup(h, id.clone());
    assert!(ok(h, &["session", "apps", &id]).contains("ssh"));
    let (mut open, command) = spawn_first_line(
        with_runtime(&mut berth(h, &["session", "open", &id, "ssh"]), h).env("HOME", h),
    );
    assert!(command.starts_with("ssh -p "), "{command}");
    // Pasted into a shell, as a user would.
    let ran = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} -o BatchMode=yes 'echo in-$((6*7))-$(pwd)'",
            command.trim()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "in-42-/home/work\n",
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let config = ok(h, &["session", "ssh-config"]);
    assert!(config.contains("Host berth-cli-ssh\n"), "{config}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(open.id() as libc::pid_t, libc::SIGINT) };
    assert!(open.wait().unwrap().success());
}
