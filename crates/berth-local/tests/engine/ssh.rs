//! SSH and SFTP into real sandboxes with the real OpenSSH clients (`ssh`, `sftp`): Berth serves
//! SSH on loopback and runs what each connection asks for inside the session. A command with
//! its output, stderr, exit status and stdin; a file put over SFTP landing in the mounted
//! folder; `ssh -L` to a server in a session with no network; a key Berth does not know
//! refused; and the server ending with its session.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use berth_core::{Engine, FolderPath, MountRequest, NetworkMode, NewFolder, NewSession};

use crate::{Running, engine};

/// A runtime whose threads serve the SSH connections while the test waits on a client.
pub(crate) fn serving_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The words of Berth's `ssh` command for the session (no shell between: paths unquoted).
pub(crate) fn command_words(access: &berth_local::ssh::access::SshAccess) -> Vec<String> {
    access
        .command
        .split(' ')
        .map(|w| w.trim_matches('"').to_owned())
        .collect()
}

/// `ssh` as Berth's command for the session says, with `args` after it (no prompts).
pub(crate) fn ssh(
    access: &berth_local::ssh::access::SshAccess,
    args: &[&str],
    stdin: &[u8],
) -> Output {
    let mut words = command_words(access);
    let program = words.remove(0);
    let mut child = Command::new(program)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=20"])
        .args(&words)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the OpenSSH client (openssh-client)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Puts a file `name` holding `content` into `dir` of the session with the real `sftp` client,
/// logged in as Berth's `ssh` command says; fails the test when it cannot.
pub(crate) fn sftp_put(
    access: &berth_local::ssh::access::SshAccess,
    name: &str,
    content: &str,
    dir: &str,
) {
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join(name), content).unwrap();
    let batch = local.path().join("batch");
    std::fs::write(
        &batch,
        format!("cd {dir}\nput {}\n", local.path().join(name).display()),
    )
    .unwrap();
    let mut sftp_args = command_words(access).split_off(1);
    // sftp spells the port -P.
    sftp_args[0] = "-P".into();
    let sftp = Command::new("sftp")
        .args(["-o", "BatchMode=yes", "-b"])
        .arg(&batch)
        .args(&sftp_args)
        .output()
        .expect("the OpenSSH sftp client");
    assert!(
        sftp.status.success(),
        "{}{}",
        text(&sftp.stdout),
        text(&sftp.stderr)
    );
}

/// `ssh -N -L` from a free port of this computer to `port` on the session's loopback, as
/// Berth's command logs in (what VS Code's Remote-SSH does with its server); the running
/// client (kill it when done) and the local port.
pub(crate) fn ssh_tunnel(
    access: &berth_local::ssh::access::SshAccess,
    port: u16,
) -> (std::process::Child, u16) {
    let local_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut words = command_words(access);
    let program = words.remove(0);
    let client = Command::new(program)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ExitOnForwardFailure=yes",
            "-N",
            "-L",
        ])
        .arg(format!("{local_port}:127.0.0.1:{port}"))
        .args(&words)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (client, local_port)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_real_ssh_and_sftp_client_work_in_a_session_through_berths_own_server() {
    let fixture = engine();
    let rt = serving_runtime();
    rt.block_on(fixture.engine.create_folder(NewFolder::named("project")))
        .unwrap();
    let mut spec = NewSession::interactive("host", vec![MountRequest::folder("project")]);
    spec.network = NetworkMode::None;
    spec.name = Some("over-ssh".into());
    let session = rt.block_on(fixture.engine.create_session(spec)).unwrap();
    let running = Running {
        fixture: &fixture,
        id: session.id.clone(),
    };

    let forward = rt
        .block_on(fixture.engine.open_ssh(&session.id, None))
        .unwrap();
    assert!(forward.local.ip().is_loopback(), "{}", forward.local);
    assert_eq!(forward.record.app.as_deref(), Some("ssh"));
    let access = fixture
        .engine
        .ssh_access(&session.name, forward.local.port())
        .unwrap();
    assert_eq!(access.host, "berth-over-ssh");

    // A command: its output, its stderr apart, its exit status, and stdin read to the end.
    let ran = ssh(
        &access,
        &["echo out-$((6*7)); echo err >&2; cat > /home/work/project/from-ssh.txt; exit 3"],
        b"typed into ssh\n",
    );
    assert_eq!(ran.status.code(), Some(3), "{}", text(&ran.stderr));
    assert_eq!(text(&ran.stdout), "out-42\n");
    assert!(text(&ran.stderr).contains("err\n"), "{}", text(&ran.stderr));
    assert_eq!(
        running.ok("cat /home/work/project/from-ssh.txt"),
        "typed into ssh\n"
    );

    // SFTP (FileZilla, WinSCP, sftp): a file put lands in the mounted folder.
    sftp_put(
        &access,
        "notes.txt",
        "put over sftp\n",
        "/home/work/project",
    );
    let names = rt
        .block_on(fixture.engine.list_names("project", &FolderPath::root()))
        .unwrap();
    assert!(
        names.iter().any(|n| n.name == "notes.txt"),
        "in the folder: {names:?}"
    );
    assert_eq!(
        running.ok("cat /home/work/project/notes.txt"),
        "put over sftp\n"
    );

    // ssh -L: a server in a session with no network, reached through the SSH connection (what
    // VS Code's Remote-SSH does with its server).
    running.ok(
        "cd /home/work/project && (setsid python3 -m http.server 8790 --bind 127.0.0.1 \
         </dev/null >/dev/null 2>&1 &) && for i in $(seq 100); do python3 -c \
         'import socket; socket.create_connection((\"127.0.0.1\", 8790))' 2>/dev/null && exit 0; \
         sleep 0.1; done; exit 1",
    );
    let (mut forwarding, local_port) = ssh_tunnel(&access, 8790);
    let page = (0..100)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", local_port)).ok()?;
            write!(stream, "GET /notes.txt HTTP/1.0\r\n\r\n").ok()?;
            let mut answer = String::new();
            std::io::Read::read_to_string(&mut stream, &mut answer).ok()?;
            answer.contains("200").then_some(answer)
        })
        .expect("the page through ssh -L");
    assert!(page.ends_with("put over sftp\n"), "{page}");
    forwarding.kill().unwrap();
    forwarding.wait().unwrap();

    // A key Berth does not know: refused, nothing run.
    let keys = tempfile::tempdir().unwrap();
    let stranger = keys.path().join("stranger");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(made.success());
    let refused = Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-i"])
        .arg(&stranger)
        .args([
            "-p",
            &forward.local.port().to_string(),
            "work@127.0.0.1",
            "touch /home/work/project/intruded",
        ])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(255),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        text(&refused.stderr).contains("Permission denied"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        running.ok("ls /home/work/project/intruded 2>/dev/null || echo absent"),
        "absent\n"
    );

    // The session ends: so does its SSH, saying why.
    let name = session.name.clone();
    running.destroy();
    let why = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(15), forward.ended()).await })
        .expect("SSH ends with its session");
    assert!(why.contains(&name), "{why}");
}
