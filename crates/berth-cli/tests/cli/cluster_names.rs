//! A Backend.AI round trip from the CLI on every system it is built for (on Windows, its tests
//! run under Wine; the secret goes to Wine's Credential Manager there, to the sealed file on
//! Linux where no keychain runs for this test): folder, upload of a tree, listing, download,
//! and the names a Linux server's folder holds that Windows cannot.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{berth, http_get, local_address, spawn_first_line, stderr, stdout, unique};

const MANAGER: &str = "127.0.0.1:8081";
const ACCESS_KEY: &str = "AKIANABBDUSEREXAMPLE";
const SECRET_KEY: &str = "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf";

pub(crate) struct Cluster {
    home: tempfile::TempDir,
}

impl Cluster {
    pub(crate) fn add() -> Self {
        let cluster = Self {
            home: tempfile::tempdir().unwrap(),
        };
        let mut add = cluster.cmd(&[
            "profile",
            "add",
            "peer",
            "--endpoint",
            MANAGER,
            "--access-key",
            ACCESS_KEY,
        ]);
        let mut child = add
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{SECRET_KEY}\n").as_bytes())
            .unwrap();
        drop(stdin);
        let added = child.wait_with_output().unwrap();
        assert!(added.status.success(), "{}", stderr(&added));
        cluster
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut command = berth(self.home.path(), &["--profile", "peer"]);
        if args.first() == Some(&"profile") {
            command = berth(self.home.path(), &[]);
        }
        command.args(args);
        // No keychain service for this test on Linux: the secret is sealed in a file.
        command.env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", self.home.path().join("no-bus").display()),
        );
        command
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let output = self.cmd(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    }

    pub(crate) fn path(&self) -> &Path {
        self.home.path()
    }
}

#[test]
fn a_cluster_folder_round_trip_keeps_the_tree_and_refuses_names_this_computer_cannot_hold() {
    let cluster = Cluster::add();
    let folder = unique("names");
    cluster.ok(&["folder", "create", &folder]);

    // A tree goes up with `/` between its parts, whatever this computer's separator.
    let tree = cluster.path().join("project");
    std::fs::create_dir_all(tree.join("src").join("deep dir")).unwrap();
    std::fs::write(tree.join("src").join("deep dir").join("résumé.txt"), "r").unwrap();
    for name in ["a", "b", "c", "d", "ok.txt"] {
        std::fs::write(tree.join(name), name).unwrap();
    }
    cluster.ok(&["upload", &folder, tree.to_str().unwrap()]);
    let listed = cluster.ok(&["--json", "files", "ls", &folder, "project/src/deep dir"]);
    let entries: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(entries[0]["name"], "résumé.txt", "{listed}");

    // Names a Linux server holds and Windows cannot, made on the server.
    let renames = [
        ("a", "aux.txt"),
        ("b", "notes."),
        ("c", "Data.csv"),
        ("d", "data.csv"),
    ];
    for (from, to) in renames {
        cluster.ok(&[
            "files",
            "mv",
            &folder,
            &format!("project/{from}"),
            &format!("project/{to}"),
        ]);
    }

    let out = cluster.path().join("out");
    let output = cluster
        .cmd(&[
            "download",
            &folder,
            "project",
            "--to",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();

    let landed = out.join("project");
    let mut written: Vec<String> = std::fs::read_dir(&landed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.contains(".berth-part-"))
        .collect();
    written.sort();
    let text = stderr(&output);
    if cfg!(windows) {
        assert!(!output.status.success(), "{text}");
        assert!(text.contains("3 transfer(s) failed:"), "{text}");
        assert!(
            text.contains(
                "project/aux.txt: Not downloaded: \"aux.txt\" is a device name on Windows"
            ),
            "{text}"
        );
        assert!(
            text.contains("project/notes.: Not downloaded: \"notes.\" ends with a dot or a space"),
            "{text}"
        );
        assert!(
            text.contains("its name differs only in case from"),
            "{text}"
        );
        // One of the two case twins, with its own content; the other not over it.
        let twin = written
            .iter()
            .find(|n| n.eq_ignore_ascii_case("data.csv"))
            .unwrap_or_else(|| panic!("one of the twins in {written:?}"));
        let expected = if twin == "Data.csv" { "c" } else { "d" };
        assert_eq!(
            std::fs::read_to_string(landed.join(twin)).unwrap(),
            expected
        );
        assert_eq!(written, [twin.as_str(), "ok.txt", "src"], "{text}");
    } else {
        assert!(output.status.success(), "{text}");
        assert_eq!(
            written,
            ["Data.csv", "aux.txt", "data.csv", "notes.", "ok.txt", "src"]
        );
    }
    assert_eq!(
        std::fs::read_to_string(landed.join("src").join("deep dir").join("résumé.txt")).unwrap(),
        "r"
    );

    cluster.ok(&["folder", "delete", &folder]);
    cluster.ok(&["folder", "purge", &folder]);
}

#[test]
fn a_template_launches_on_the_cluster_and_berths_own_limits_are_left_to_the_cluster() {
    let cluster = Cluster::add();
    cluster.ok(&[
        "template",
        "save",
        "on-peer",
        "--env",
        "cr.backend.ai/stable/python:3.9-ubuntu20.04",
        "--resource-group",
        "default",
        "--var",
        "EPOCHS=3",
    ]);
    let name = unique("tpl-peer");
    let created = cluster.ok(&[
        "session",
        "create",
        "--template",
        "on-peer",
        "--name",
        &name,
    ]);
    assert!(!created.trim().is_empty(), "{created}");
    let info = cluster.ok(&["session", "info", &name]);
    assert!(info.contains("EPOCHS=3"), "the template's variable: {info}");
    cluster.ok(&["session", "destroy", &name]);

    // Idle timeouts and lifetimes are the cluster administrators' to set: refused, nothing made.
    let refused = cluster
        .cmd(&[
            "session",
            "create",
            "--template",
            "on-peer",
            "--name",
            &name,
            "--lifetime",
            "1h",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("administrators' rules"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_cluster_sessions_server_opens_on_loopback_from_the_cli_and_is_listed_while_open() {
    let cluster = Cluster::add();
    let name = unique("open-peer");
    // A real kernel (the peer's Podman agent), launched to open port 8000.
    cluster.ok(&[
        "session",
        "create",
        "--env",
        "cr.backend.ai/stable/python:3.11-debian12",
        "--resource-group",
        "podman",
        "--name",
        &name,
        "--port",
        "8000",
    ]);
    let _cleanup = DestroyOnDrop(&cluster, name.clone());
    let apps = cluster.ok(&["session", "apps", &name]);
    assert!(
        apps.contains("ttyd") && apps.contains("sshd") && apps.contains("8000"),
        "{apps}"
    );
    cluster.ok(&[
        "session",
        "exec",
        &name,
        "--",
        "sh",
        "-c",
        "mkdir -p /tmp/www && echo served-by-the-kernel > /tmp/www/page.txt && \
         (setsid python3 -m http.server 8000 -d /tmp/www </dev/null >/dev/null 2>&1 &) && \
         for i in $(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8000))' \
         2>/dev/null && exit 0; sleep 0.1; done; exit 1",
    ]);

    let (mut open, first) =
        spawn_first_line(&mut cluster.cmd(&["session", "open", &name, "8000", "--no-browser"]));
    let address = local_address(&first);
    let answer = http_get(&address, "/page.txt");
    assert!(answer.ends_with("served-by-the-kernel\n"), "{answer}");

    // Listed, with the profile it leads into, by any other berth on this computer.
    let listed: serde_json::Value =
        serde_json::from_str(&cluster.ok(&["--json", "session", "ports", &name])).unwrap();
    assert_eq!(listed[0]["port"], 8000, "{listed}");
    assert_eq!(listed[0]["engine"], "peer", "{listed}");
    assert_eq!(listed[0]["local"], address.as_str(), "{listed}");

    // An app by name: sshd's first line is the ssh command to type.
    let (mut ssh, command) =
        spawn_first_line(&mut cluster.cmd(&["session", "open", &name, "sshd", "--no-browser"]));
    assert!(
        command.starts_with("ssh -p ") && command.trim_end().ends_with("work@127.0.0.1"),
        "{command}"
    );
    ssh.kill().unwrap();
    ssh.wait().unwrap();

    // Ended (as Ctrl-C or closing the terminal does): its port goes, and so does its entry.
    open.kill().unwrap();
    open.wait().unwrap();
    assert!(std::net::TcpStream::connect(&address).is_err());
    let listed: serde_json::Value =
        serde_json::from_str(&cluster.ok(&["--json", "session", "ports"])).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([]),
        "a process gone is not listed"
    );

    // A port the session was not launched to open: what it offers instead, and the fix.
    let refused = cluster
        .cmd(&["session", "open", &name, "5000", "--no-browser"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("launched to open"),
        "{}",
        stderr(&refused)
    );
}

/// Destroys session `.1` on the cluster when the test ends, passed or failed.
struct DestroyOnDrop<'a>(&'a Cluster, String);

impl Drop for DestroyOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(&["session", "destroy", &self.1]).output();
    }
}
