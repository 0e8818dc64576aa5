//! The `berth` binary as a user or script runs it: real processes, real sandboxes, temporary
//! data directories.

// Helpers here are test code too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod cluster_names;
// Windows only: under Wine, against Podman on loopback TCP (scripts/windows-tests).
#[cfg(windows)]
mod docker_session;
mod doctor;
mod files;
mod folder;
// Linux-only: a Secret Service keychain on a private D-Bus, and bubblewrap sandboxes.
#[cfg(target_os = "linux")]
mod profile;
#[cfg(target_os = "linux")]
mod session;
mod sync;
mod templates;
mod transfer;

use std::path::Path;
use std::process::{Command, Output};

/// `berth ARGS` with its data under `home` and nothing from the real user's directories.
pub fn berth(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(args)
        .env("HOME", home)
        .env("BERTH_DATA_DIR", home.join("data"))
        .env("BERTH_CONFIG_DIR", home.join("config"))
        .env_remove("RUST_LOG");
    command
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("berth runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `berth ARGS` with its data under `home`, which must succeed; its stdout.
pub fn ok(home: &Path, args: &[&str]) -> String {
    let output = run(&mut berth(home, args));
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    stdout(&output)
}

/// `PREFIX-…`, unique enough for names on a shared cluster.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}", nanos & 0xffff_ffff_ffff)
}

#[test]
fn version_names_the_program_and_its_version() {
    let home = tempfile::tempdir().unwrap();
    let output = run(&mut berth(home.path(), &["--version"]));
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("berth {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Starts `command` (a `berth session open`, which prints its address first and runs on) and
/// reads that first line.
pub fn spawn_first_line(command: &mut Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    (child, first)
}

/// `127.0.0.1:PORT` of a printed `http://127.0.0.1:PORT/` line.
pub fn local_address(url_line: &str) -> String {
    let address = url_line
        .trim()
        .strip_prefix("http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("not a local URL: {url_line:?}"))
        .to_owned();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    address
}

/// `GET path` over HTTP/1.0 to `address`: the whole answer.
pub fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
