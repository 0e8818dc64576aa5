//! `berth profile` and `--profile` against the real Backend.AI peer (`scripts/backendai-peer`),
//! with a real Secret Service keychain (gnome-keyring on a private D-Bus bus) or, where none
//! runs, the encrypted file.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::{berth, stderr, stdout, unique};

const WEBSERVER: &str = "127.0.0.1:8090";
const MANAGER: &str = "127.0.0.1:8081";
const EMAIL: &str = "user@lablup.com";
const PASSWORD: &str = "C8qnIo29";
const ACCESS_KEY: &str = "AKIANABBDUSEREXAMPLE";
const SECRET_KEY: &str = "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf";

/// A private session bus with an unlocked gnome-keyring on it; both stopped by PID on drop.
struct Keychain {
    address: String,
    bus_pid: i32,
    keyring: std::process::Child,
}

impl Keychain {
    fn start(home: &Path) -> Self {
        let runtime = home.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        let bus = Command::new("dbus-daemon")
            .args([
                "--session",
                "--fork",
                "--print-address=1",
                "--print-pid=1",
                "--nosyslog",
            ])
            .output()
            .expect("dbus-daemon runs (setup-debian --test installs it)");
        let text = String::from_utf8_lossy(&bus.stdout).into_owned();
        let mut lines = text.lines();
        let address = lines.next().unwrap().to_string();
        let bus_pid: i32 = lines.next().unwrap().trim().parse().unwrap();
        // In the foreground, so this test owns its PID (no guessing among parallel tests).
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("HOME", home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon runs (setup-debian --test installs it)");
        // The password, then end of input: that is how --unlock reads it.
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"keyring-password").unwrap();
        drop(stdin);
        // Serving once it owns the Secret Service name on the bus.
        let serving = (0..200).any(|_| {
            let asked = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &address)
                .output()
                .unwrap();
            let owned = String::from_utf8_lossy(&asked.stdout).contains("boolean true");
            if !owned {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            owned
        });
        let keychain = Self {
            address,
            bus_pid,
            keyring,
        };
        assert!(serving, "gnome-keyring did not start serving within 10 s");
        keychain
    }
}

impl Drop for Keychain {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        // SAFETY: a plain signal to the bus daemon this test started.
        unsafe {
            libc::kill(self.bus_pid, libc::SIGTERM);
        }
    }
}

fn with_bus(mut command: Command, home: &Path, bus: &str) -> Command {
    command
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("XDG_RUNTIME_DIR", home.join("run"));
    command
}

/// Runs `command` with `input` on its standard input.
fn feed(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_profile_keeps_its_password_in_the_keychain_and_commands_reach_the_cluster() {
    let home = tempfile::tempdir().unwrap();
    let keychain = Keychain::start(home.path());
    let cmd = |args: &[&str]| with_bus(berth(home.path(), args), home.path(), &keychain.address);

    let added = feed(
        cmd(&[
            "profile",
            "add",
            "peer",
            "--endpoint",
            WEBSERVER,
            "--email",
            EMAIL,
        ]),
        &format!("{PASSWORD}\n"),
    );
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(
        stdout(&added).contains("system keychain"),
        "{}",
        stdout(&added)
    );
    assert!(stdout(&added).contains("26.8.1"), "{}", stdout(&added));
    let config = home.path().join("config");
    let saved = std::fs::read_to_string(config.join("profiles.json")).unwrap();
    assert!(!saved.contains(PASSWORD), "{saved}");
    assert!(
        !config.join("secrets.json").exists(),
        "with a keychain, no secrets file"
    );

    // A new process finds the password in the keychain.
    let folder = unique("cli-profile");
    let created = cmd(&["--profile", "peer", "folder", "create", &folder])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let made = cmd(&[
        "--profile",
        "peer",
        "files",
        "mkdir",
        &folder,
        "results/run1",
    ])
    .output()
    .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let listed = cmd(&["--profile", "peer", "files", "ls", &folder, "results"])
        .output()
        .unwrap();
    assert!(stdout(&listed).contains("run1/"), "{}", stdout(&listed));

    // `profile use` makes it the default; `local` goes back to this computer.
    assert!(
        cmd(&["profile", "use", "peer"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let on_cluster = stdout(&cmd(&["folder", "list"]).output().unwrap());
    assert!(on_cluster.contains(&folder), "{on_cluster}");
    let listing = stdout(&cmd(&["profile", "list"]).output().unwrap());
    assert!(listing.contains("* peer"), "{listing}");
    assert!(
        cmd(&["profile", "use", "local"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let local = stdout(&cmd(&["folder", "list"]).output().unwrap());
    assert!(!local.contains(&folder), "{local}");

    for args in [
        vec!["--profile", "peer", "folder", "delete", &folder],
        vec!["--profile", "peer", "folder", "purge", &folder],
        vec!["profile", "remove", "peer"],
    ] {
        let output = cmd(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    let gone = cmd(&["--json", "--profile", "peer", "folder", "list"])
        .output()
        .unwrap();
    assert!(stderr(&gone).contains("\"not_found\""), "{}", stderr(&gone));
}

#[test]
fn without_a_keychain_the_secret_is_sealed_in_a_file_with_a_warning() {
    let home = tempfile::tempdir().unwrap();
    let nowhere = format!("unix:path={}", home.path().join("no-bus").display());
    let cmd = |args: &[&str]| with_bus(berth(home.path(), args), home.path(), &nowhere);
    let added = feed(
        cmd(&[
            "profile",
            "add",
            "api",
            "--endpoint",
            MANAGER,
            "--access-key",
            ACCESS_KEY,
        ]),
        &format!("{SECRET_KEY}\n"),
    );
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(
        stderr(&added).contains("No keychain service is running"),
        "{}",
        stderr(&added)
    );
    let sealed = std::fs::read_to_string(home.path().join("config/secrets.json")).unwrap();
    assert!(!sealed.contains(SECRET_KEY), "{sealed}");
    let hosts = cmd(&["--profile", "api", "folder", "hosts"])
        .output()
        .unwrap();
    assert!(
        stdout(&hosts).contains("local:volume1"),
        "{}",
        stderr(&hosts)
    );
}

#[test]
fn wrong_secrets_a_skewed_clock_and_a_missing_secret_each_get_their_code() {
    let home = tempfile::tempdir().unwrap();
    let nowhere = format!("unix:path={}", home.path().join("no-bus").display());
    let cmd = |args: &[&str]| with_bus(berth(home.path(), args), home.path(), &nowhere);
    let code_of = |output: &Output| {
        let error: serde_json::Value =
            serde_json::from_str(stderr(output).lines().last().unwrap_or("{}")).unwrap();
        error["code"].as_str().unwrap_or_default().to_string()
    };

    let wrong_password = feed(
        cmd(&[
            "--json",
            "profile",
            "add",
            "web",
            "--endpoint",
            WEBSERVER,
            "--email",
            EMAIL,
        ]),
        "not-the-password\n",
    );
    assert_eq!(code_of(&wrong_password), "auth_failed");
    let wrong_secret = feed(
        cmd(&[
            "--json",
            "profile",
            "add",
            "api",
            "--endpoint",
            MANAGER,
            "--access-key",
            ACCESS_KEY,
        ]),
        "wrong-secret-key\n",
    );
    assert_eq!(code_of(&wrong_secret), "auth_failed");
    assert!(
        !std::fs::read_to_string(home.path().join("config/profiles.json"))
            .unwrap_or_default()
            .contains("\"web\""),
        "a profile that cannot log in is not saved"
    );

    // A real clock 20 minutes ahead (libfaketime), not a simulated answer.
    let mut skewed = Command::new("faketime");
    skewed.args(["-f", "+20m", env!("CARGO_BIN_EXE_berth")]);
    skewed.args([
        "--json",
        "profile",
        "add",
        "api",
        "--endpoint",
        MANAGER,
        "--access-key",
        ACCESS_KEY,
    ]);
    for (key, value) in berth(home.path(), &[]).get_envs() {
        if let Some(value) = value {
            skewed.env(key, value);
        }
    }
    skewed.env("DBUS_SESSION_BUS_ADDRESS", &nowhere);
    let skew = feed(skewed, &format!("{SECRET_KEY}\n"));
    assert_eq!(code_of(&skew), "clock_skew", "{}", stderr(&skew));
    assert!(stderr(&skew).contains("clock"), "{}", stderr(&skew));

    let empty = feed(
        cmd(&[
            "--json",
            "profile",
            "add",
            "api",
            "--endpoint",
            MANAGER,
            "--access-key",
            ACCESS_KEY,
        ]),
        "",
    );
    assert_eq!(code_of(&empty), "invalid_input", "{}", stderr(&empty));
}

#[test]
fn dotfiles_sync_mirrors_this_computers_setup_onto_a_profile_and_back() {
    // user2 is this test's alone: sync replaces the whole set, which would race other tests.
    let home = tempfile::tempdir().unwrap();
    let nowhere = format!("unix:path={}", home.path().join("no-bus").display());
    let cmd = |args: &[&str]| with_bus(berth(home.path(), args), home.path(), &nowhere);
    let ok = |output: Output| {
        assert!(output.status.success(), "{}", stderr(&output));
        output
    };
    let json = |output: Output| -> serde_json::Value {
        serde_json::from_slice(&ok(output).stdout).unwrap()
    };
    ok(feed(
        cmd(&[
            "profile",
            "add",
            "two",
            "--endpoint",
            MANAGER,
            "--access-key",
            "AKIANATWOUSEREXAMPLE",
        ]),
        "P7oxTDdzHbEpUSs5v7r7EWj9yKstp8VpZ7SEyA-g\n",
    ));
    // Something only the cluster has, from an earlier run or another machine.
    ok(feed(
        cmd(&[
            "--profile",
            "two",
            "dotfiles",
            "set",
            ".only-on-cluster",
            "-",
        ]),
        "stale\n",
    ));
    // This computer's set.
    ok(feed(
        cmd(&["--profile", "local", "dotfiles", "set", ".bashrc", "-"]),
        "export PYTHONPATH=/home/work/lib\n",
    ));
    ok(feed(
        cmd(&["--profile", "local", "bootstrap", "set", "-"]),
        "#!/bin/sh\necho ready\n",
    ));

    let pushed = json(
        cmd(&["--json", "--profile", "two", "dotfiles", "sync"])
            .output()
            .unwrap(),
    );
    assert!(
        pushed["removed"]
            .as_array()
            .unwrap()
            .contains(&".only-on-cluster".into()),
        "{pushed}"
    );
    assert!(pushed["bootstrap_changed"].as_bool().unwrap(), "{pushed}");
    let on_cluster = json(
        cmd(&["--json", "--profile", "two", "dotfiles", "list"])
            .output()
            .unwrap(),
    );
    let here = json(
        cmd(&["--json", "--profile", "local", "dotfiles", "list"])
            .output()
            .unwrap(),
    );
    assert_eq!(on_cluster, here);
    let script = json(
        cmd(&["--json", "--profile", "two", "bootstrap", "show"])
            .output()
            .unwrap(),
    );
    assert!(
        script["script"].as_str().unwrap().contains("echo ready"),
        "{script}"
    );

    // Nothing left to do the second time.
    let again = json(
        cmd(&["--json", "--profile", "two", "dotfiles", "sync"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        again,
        serde_json::json!({"added": [], "updated": [], "removed": [], "bootstrap_changed": false})
    );

    // Edited on the cluster (in the web UI, say), pulled back here.
    ok(feed(
        cmd(&["--profile", "two", "dotfiles", "set", ".bashrc", "-"]),
        "export PYTHONPATH=/home/work/lib:/home/work/py311\n",
    ));
    let pulled = json(
        cmd(&["--json", "--profile", "two", "dotfiles", "sync", "--pull"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        pulled["updated"],
        serde_json::json!([".bashrc"]),
        "{pulled}"
    );
    let here = json(
        cmd(&["--json", "--profile", "local", "dotfiles", "list"])
            .output()
            .unwrap(),
    );
    assert!(
        here.to_string().contains("py311"),
        "the local .bashrc is the cluster's now: {here}"
    );

    ok(cmd(&["--profile", "two", "dotfiles", "rm", ".bashrc"])
        .output()
        .unwrap());
    ok(cmd(&["--profile", "two", "bootstrap", "clear"])
        .output()
        .unwrap());
    let local_only = cmd(&["--json", "--profile", "local", "dotfiles", "sync"])
        .output()
        .unwrap();
    assert!(
        stderr(&local_only).contains("--profile NAME"),
        "{}",
        stderr(&local_only)
    );
}

/// A home without a keychain and with the user's keypair saved as profile `api`.
struct ApiProfile {
    home: tempfile::TempDir,
    bus: String,
}

impl ApiProfile {
    fn add() -> Self {
        let home = tempfile::tempdir().unwrap();
        let bus = format!("unix:path={}", home.path().join("no-bus").display());
        let profile = Self { home, bus };
        let added = feed(
            profile.cmd(&[
                "profile",
                "add",
                "api",
                "--endpoint",
                MANAGER,
                "--access-key",
                ACCESS_KEY,
            ]),
            &format!("{SECRET_KEY}\n"),
        );
        assert!(added.status.success(), "{}", stderr(&added));
        profile
    }

    fn cmd(&self, args: &[&str]) -> Command {
        with_bus(berth(self.home.path(), args), self.home.path(), &self.bus)
    }

    /// Runs `berth ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.cmd(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    }
}

#[test]
fn sessions_on_a_cluster_from_the_cli() {
    let cli = ApiProfile::add();
    let (cmd, ok) = (|args: &[&str]| cli.cmd(args), |args: &[&str]| cli.ok(args));
    assert!(ok(&["--profile", "api", "env", "list"]).contains("python"));

    let folder = unique("cli-mount");
    ok(&["--profile", "api", "folder", "create", &folder]);
    let name = unique("cli-sess");
    let mount = format!("{folder}:/data/in:ro");
    let created: serde_json::Value = serde_json::from_str(&ok(&[
        "--json",
        "--profile",
        "api",
        "session",
        "create",
        "--name",
        &name,
        "--mount",
        &mount,
        // The peer's real agent, where commands run (the dummy agent's group runs none).
        "--resource-group",
        "podman",
        "--env",
        "cr.backend.ai/stable/python:3.11-debian12",
    ]))
    .unwrap();
    assert_eq!(created["status"], "running", "{created}");
    let mounted = created["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["folder_name"] == folder.as_str())
        .cloned()
        .unwrap();
    assert_eq!(mounted["target"], "/data/in");
    assert_eq!(mounted["read_only"], true);
    assert!(ok(&["--profile", "api", "session", "list"]).contains(&name));

    // Exec passes the command's streams and status through, and sees the read-only mount.
    let exec = cmd(&[
        "--profile",
        "api",
        "session",
        "exec",
        &name,
        "--",
        "sh",
        "-c",
        "ls -d /data/in; (touch /data/in/x) 2>/dev/null || echo ro-refused; echo err >&2; exit 3",
    ])
    .output()
    .unwrap();
    assert_eq!(exec.status.code(), Some(3), "{}", stderr(&exec));
    assert_eq!(stdout(&exec), "/data/in\nro-refused\n");
    assert_eq!(stderr(&exec), "err\n");
    // A project the user does not belong to is refused before anything starts.
    let refused = cmd(&[
        "--profile",
        "api",
        "session",
        "create",
        "--project",
        "research",
    ])
    .output()
    .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("\"research\""),
        "{}",
        stderr(&refused)
    );
    // Insisting on ttyd through an App Proxy fails with the reason: the real agent's group
    // has none (`auto` goes through the manager's tcpproxy instead).
    let ttyd = cmd(&[
        "--profile",
        "api",
        "session",
        "shell",
        &name,
        "--via",
        "ttyd",
    ])
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert!(!ttyd.status.success());
    assert!(
        stderr(&ttyd).contains("\"podman\" has no App Proxy"),
        "{}",
        stderr(&ttyd)
    );

    let destroyed: serde_json::Value = serde_json::from_str(&ok(&[
        "--json",
        "--profile",
        "api",
        "session",
        "destroy",
        &name,
    ]))
    .unwrap();
    assert_eq!(destroyed["status"], "terminated", "{destroyed}");
    ok(&["--profile", "api", "folder", "delete", &folder]);
    ok(&["--profile", "api", "folder", "purge", &folder]);
}

#[test]
fn uploads_and_downloads_go_through_the_clusters_storage_proxy() {
    let cli = ApiProfile::add();
    let (cmd, ok) = (|args: &[&str]| cli.cmd(args), |args: &[&str]| cli.ok(args));
    let folder = unique("cli-xfer");
    ok(&["--profile", "api", "folder", "create", &folder]);

    let tree = cli.home.path().join("results");
    std::fs::create_dir_all(tree.join("run1")).unwrap();
    std::fs::write(tree.join("summary.txt"), "loss 0.1\n").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(tree.join("run1/weights.bin"), &big).unwrap();
    ok(&[
        "--profile",
        "api",
        "upload",
        &folder,
        tree.to_str().unwrap(),
    ]);
    assert!(
        ok(&["--profile", "api", "files", "ls", &folder, "results/run1"]).contains("weights.bin")
    );

    // Again without --conflict: refused before a byte moves, naming the way out.
    let again = cmd(&[
        "--profile",
        "api",
        "upload",
        &folder,
        tree.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--conflict"), "{}", stderr(&again));

    let back = cli.home.path().join("back");
    ok(&[
        "--profile",
        "api",
        "download",
        &folder,
        "results",
        "--to",
        back.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(back.join("results/run1/weights.bin")).unwrap(),
        big
    );
    assert_eq!(
        std::fs::read_to_string(back.join("results/summary.txt")).unwrap(),
        "loss 0.1\n"
    );
    // The cluster's journal is its own: this computer's is untouched.
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "--profile", "api", "transfers", "list"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");
    let local: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "--profile", "local", "transfers", "list"])).unwrap();
    assert_eq!(local, serde_json::json!([]));

    ok(&["--profile", "api", "folder", "delete", &folder]);
    ok(&["--profile", "api", "folder", "purge", &folder]);
}

/// The user guide's walkthrough on the peer's real kernel, from the CLI (issue 13, item 4): two
/// folders mounted (one at an absolute alias, one relative), a file written in the session
/// that outlives it and downloads byte for byte, scratch gone in the next session, a read-only
/// mount refusing a write inside the container, and `.local` automounted in both.
#[test]
fn the_user_guides_walkthrough_on_a_real_kernel_from_the_cli() {
    const IMAGE: &str = "cr.backend.ai/stable/python:3.11-debian12";
    let cli = ApiProfile::add();
    let ok = |args: &[&str]| {
        let mut all = vec!["--profile", "api"];
        all.extend_from_slice(args);
        cli.ok(&all)
    };
    let exec = |session: &str, script: &str| -> (String, String, Option<i32>) {
        let output = cli
            .cmd(&[
                "--profile",
                "api",
                "session",
                "exec",
                session,
                "--",
                "sh",
                "-c",
                script,
            ])
            .output()
            .unwrap();
        (stdout(&output), stderr(&output), output.status.code())
    };
    let ml = unique("user1-ml-test");
    let v2 = unique("user2-vfolder");
    ok(&["folder", "create", &ml]);
    ok(&["folder", "create", &v2]);
    // `.local` is the user's own automount folder: an earlier run may have made it.
    let _ = cli
        .cmd(&["--profile", "api", "folder", "create", ".local"])
        .output();
    let marker = unique("pip-marker");
    let first = unique("walk-1");
    let second = unique("walk-2");
    // The real agent has room for two sessions: none of this test's may outlive a failure.
    struct Destroy<'a>(&'a ApiProfile, Vec<String>);
    impl Drop for Destroy<'_> {
        fn drop(&mut self) {
            for name in &self.1 {
                let _ = self
                    .0
                    .cmd(&["--profile", "api", "session", "destroy", name])
                    .output();
            }
        }
    }
    let _destroy = Destroy(&cli, vec![first.clone(), second.clone()]);
    let create = |name: &str, ml_mount: &str| {
        let created: serde_json::Value = serde_json::from_str(&cli.ok(&[
            "--json",
            "--profile",
            "api",
            "session",
            "create",
            "--name",
            name,
            "--resource-group",
            "podman",
            "--env",
            IMAGE,
            "--mount",
            ml_mount,
            "--mount",
            &format!("{v2}:data/v2"),
        ]))
        .unwrap();
        assert_eq!(created["status"], "running", "{created}");
    };

    create(&first, &format!("{ml}:/workspace/ml"));
    let (out, err, code) = exec(
        &first,
        &format!(
            "ls /home/work /home/work/data; ls -d /workspace/ml /home/work/.local && \
             echo 'file inside user2-vfolder' > /home/work/data/v2/test_file && \
             echo scratch > /home/work/scratch.txt && echo kept > /home/work/.local/{marker}"
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("data\n") && out.contains("v2\n"), "{out}");
    // `ls -d` sorts its arguments.
    assert!(out.contains("/home/work/.local\n/workspace/ml\n"), "{out}");
    ok(&["session", "destroy", &first]);

    let back = tempfile::tempdir().unwrap();
    ok(&[
        "download",
        &v2,
        "test_file",
        "--to",
        &back.path().to_string_lossy(),
    ]);
    assert_eq!(
        std::fs::read(back.path().join("test_file")).unwrap(),
        b"file inside user2-vfolder\n"
    );

    create(&second, &format!("{ml}:/workspace/ml:ro"));
    let (out, err, code) = exec(
        &second,
        &format!(
            "ls /home/work/scratch.txt 2>/dev/null || echo scratch-gone; \
             cat /home/work/.local/{marker} /home/work/data/v2/test_file; \
             (echo x > /workspace/ml/x) 2>/dev/null || echo read-only-refused"
        ),
    );
    ok(&["session", "destroy", &second]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "scratch-gone\nkept\nfile inside user2-vfolder\nread-only-refused\n"
    );

    ok(&["files", "rm", ".local", &marker]);
    for folder in [&ml, &v2] {
        ok(&["folder", "delete", folder]);
        ok(&["folder", "purge", folder]);
    }
}
