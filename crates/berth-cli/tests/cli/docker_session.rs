//! Windows only (run under Wine by scripts/windows-tests): a session created by the Windows
//! CLI through the Docker-API runtime, against this machine's Podman serving the API on a
//! loopback TCP port, with a folder mounted and a command's output and exit status back.
//!
//! Docker Desktop and Podman machine on Windows accept a Windows path (`C:\Users\…`) as a bind
//! source and translate it to their Linux VM's view. Linux Podman does not, so a small proxy
//! in this test stands in for that translation: it rewrites each bind source `Z:\x\y` (Wine's
//! drive for the Linux root) to `/x/y` in the container-create request and passes everything
//! else through unchanged. It is the one fake here, named as such.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

use serde_json::Value;

use crate::{berth, run, stdout};

const IMAGE: &str = "docker:localhost/berth-wine:tiny";

/// `Z:\tmp\x` → `/tmp/x`: where a Windows program under Wine sees the Linux root.
fn as_linux_path(windows: &str) -> String {
    let rest = windows
        .strip_prefix("Z:\\")
        .or_else(|| windows.strip_prefix("z:\\"))
        .unwrap_or_else(|| panic!("{windows} is not on Wine's Z: drive"));
    format!("/{}", rest.replace('\\', "/"))
}

/// Starts the stand-in for Docker Desktop's path translation in front of `upstream`
/// (`host:port`); returns its `tcp://` address.
fn translating_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let _ = relay(client, &upstream);
            });
        }
    });
    format!("tcp://{address}")
}

/// One connection: the request's head (and a container-create body, rewritten), then bytes
/// both ways until either side closes (an exec's hijacked stream included).
fn relay(client: TcpStream, upstream: &str) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream)?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let end = line == b"\r\n";
        head.push(String::from_utf8_lossy(&line).into_owned());
        if end {
            break;
        }
    }
    let creates = head[0].starts_with("POST ") && head[0].contains("/containers/create");
    if creates {
        let length: usize = head
            .iter()
            .find_map(|h| {
                let (name, value) = h.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .expect("a container-create request with a Content-Length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let mut spec: Value = serde_json::from_slice(&body).unwrap();
        for mount in spec["HostConfig"]["Mounts"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let source = mount["Source"].as_str().unwrap().to_string();
            mount["Source"] = Value::String(as_linux_path(&source));
        }
        let body = serde_json::to_vec(&spec).unwrap();
        for line in &head {
            let (name, _) = line.split_once(':').unwrap_or_default();
            if name.eq_ignore_ascii_case("content-length") {
                write!(server, "Content-Length: {}\r\n", body.len())?;
            } else {
                server.write_all(line.as_bytes())?;
            }
        }
        server.write_all(&body)?;
    } else {
        server.write_all(head.concat().as_bytes())?;
    }
    // What the reader already holds beyond the head goes first, then the rest as it comes.
    server.write_all(reader.buffer())?;
    let (mut from_client, mut to_client) = (client.try_clone()?, client);
    let (mut from_server, mut to_server) = (server.try_clone()?, server);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut from_client, &mut to_server);
    let _ = to_server.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

#[test]
fn a_windows_cli_session_runs_in_docker_with_its_folder_mounted() {
    let podman = std::env::var("BERTH_TEST_DOCKER_TCP").expect(
        "BERTH_TEST_DOCKER_TCP names Podman's Docker API on loopback: run this through \
         scripts/windows-tests, which starts it",
    );
    let docker_host = translating_proxy(podman);
    // On Z:, so the stand-in can translate the folder's path for Linux Podman.
    let home = tempfile::Builder::new().tempdir_in(r"Z:\tmp").unwrap();
    let cli = |args: &[&str]| {
        let mut command = berth(home.path(), args);
        command.env("DOCKER_HOST", &docker_host);
        command
    };
    let ok = |args: &[&str]| {
        let output = run(&mut cli(args));
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout(&output)
    };

    let doctor: Value = serde_json::from_str(&ok(&["--json", "doctor"])).unwrap();
    assert_eq!(doctor["runtime"], "docker-api", "{doctor:#}");
    ok(&["folder", "create", "w"]);
    let info: Value = serde_json::from_str(&ok(&["--json", "folder", "info", "w"])).unwrap();
    let root = std::path::PathBuf::from(info["path"].as_str().unwrap());
    std::fs::write(root.join("hello.txt"), "hello from Windows\n").unwrap();

    let envs: Value = serde_json::from_str(&ok(&["--json", "env", "list"])).unwrap();
    let ids: Vec<&str> = envs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [IMAGE], "off Linux only Docker images are offered");
    let created: Value = serde_json::from_str(&ok(&[
        "--json",
        "session",
        "create",
        "--env",
        IMAGE,
        "--mount",
        "w",
        "--network",
        "none",
    ]))
    .unwrap();
    assert_eq!(created["runtime"], "docker", "{created:#}");
    let id = created["id"].as_str().unwrap().to_string();

    let listed = ok(&[
        "session",
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "cat /home/work/w/hello.txt && echo made-in-docker > /home/work/w/out.txt && ls /home/work",
    ]);
    assert!(listed.contains("hello from Windows"), "{listed}");
    assert!(listed.contains('w'), "{listed}");
    assert_eq!(
        std::fs::read_to_string(root.join("out.txt")).unwrap(),
        "made-in-docker\n"
    );
    // The exit status comes back, also when the command leaves its input unread.
    let mut unread = cli(&["session", "exec", &id, "--", "sh", "-c", "exit 3"]);
    let mut child = unread
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&vec![b'k'; 1 << 20]);
    });
    let failed = child.wait_with_output().unwrap();
    let _ = feeder.join();
    assert_eq!(
        failed.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );

    ok(&["session", "destroy", &id]);
    assert!(
        root.join("hello.txt").is_file(),
        "the folder outlives its session"
    );
}
