//! A cluster session's apps on this computer's loopback, on the peer's real kernels: a server
//! started in the session on a port it was launched to open, the image's ttyd and sshd, each
//! through one local listener whose every connection is its own manager websocket — and the
//! refusals a user meets (nothing listening yet, an app the session does not offer, a local
//! port already taken), and the forward ending with its session.

use std::time::Duration;

use berth_core::{Engine, ErrorCode, NewSession, SessionStatus};
use berth_forward::AppKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::real_kernel::{REAL_GROUP, REAL_IMAGE, exec};
use crate::sessions::Cleanup;
use crate::*;

/// `GET path` over HTTP/1.0 to `address`; the whole answer.
async fn http_get(address: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut socket = tokio::net::TcpStream::connect(address).await?;
    socket
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_in_a_real_kernel_and_its_image_apps_open_on_loopback_through_the_manager() {
    // An API keypair, straight to the manager, as the official `backend.ai app` connects: the
    // webserver's websocket relay never passes the manager's close on (see `apps.rs`).
    let engine = keypair_engine().await;
    let name = unique("bs-apps");
    let mut cleanup = Cleanup::default();
    cleanup.sessions.push(name.clone());
    let created = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            resource_group: Some(REAL_GROUP.into()),
            ports: vec![8000],
            ..NewSession::interactive(REAL_IMAGE, vec![])
        })
        .await
        .unwrap();
    assert_eq!(created.status, SessionStatus::Running, "{created:?}");

    // What the session offers: its image's apps and the port it was launched to open.
    let apps = engine.session_apps(&name).await.unwrap();
    let offered: Vec<_> = apps.iter().map(|a| (a.name.as_str(), a.kind)).collect();
    for wanted in [
        ("sshd", AppKind::Ssh),
        ("ttyd", AppKind::Web),
        ("8000", AppKind::Web),
    ] {
        assert!(offered.contains(&wanted), "{wanted:?} in {offered:?}");
    }

    // Nothing listens on 8000 yet: said at once, not as a blank browser tab.
    let error = engine.open_app(&name, "8000", None).await.err().unwrap();
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error}");
    assert!(
        error.message.contains("Nothing listens on port 8000"),
        "{error}"
    );
    // A port the session was not launched to open: what it does offer, and the fix.
    let error = engine.open_app(&name, "5000", None).await.err().unwrap();
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error}");
    assert!(
        error.message.contains("ttyd (port 7681)") && error.message.contains("port 8000"),
        "{error}"
    );
    assert!(error.message.contains("launched to open"), "{error}");

    // A server the user starts in the session.
    let (_, err, code) = exec(
        &engine,
        &name,
        "mkdir -p /tmp/www && echo hello-from-the-kernel > /tmp/www/index.html && \
         (setsid python3 -m http.server 8000 -d /tmp/www >/dev/null 2>&1 &) && \
         for i in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8000))' 2>/dev/null && exit 0; sleep 0.2; done; exit 1",
    )
    .await;
    assert_eq!(code, 0, "the server started: {err}");

    let forward = engine.open_app(&name, "8000", None).await.unwrap();
    assert!(forward.local.ip().is_loopback(), "{}", forward.local);
    assert_eq!(forward.record.port, 8000);
    assert_eq!(forward.record.app, None, "a bare port");
    assert_eq!(
        forward.record.address("work"),
        format!("http://{}/", forward.local)
    );
    let page = http_get(forward.local, "/").await.unwrap();
    assert!(page.contains("hello-from-the-kernel"), "{page}");

    // Many connections at once through the one listener, each its own websocket.
    let address = forward.local;
    let answers = futures_util::future::join_all(
        (0..40).map(|_| tokio::spawn(async move { http_get(address, "/").await })),
    )
    .await;
    let good = answers
        .into_iter()
        .filter(|a| {
            a.as_ref().is_ok_and(|a| {
                a.as_ref()
                    .is_ok_and(|p| p.contains("hello-from-the-kernel"))
            })
        })
        .count();
    assert_eq!(good, 40, "every connection answered");
    assert_eq!(forward.connections(), 41);
    assert!(forward.bytes_moved() > 41 * 22, "{}", forward.bytes_moved());

    // The local port already taken: refused with the fix.
    let taken = forward.local.port();
    let error = engine
        .open_app(&name, "8000", Some(taken))
        .await
        .err()
        .unwrap();
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error}");
    assert!(error.message.contains(&format!("Port {taken}")), "{error}");

    // The image's apps, by name: ttyd's page, and sshd's greeting (an SSH server speaks first).
    let ttyd = engine.open_app(&name, "ttyd", None).await.unwrap();
    assert_eq!(ttyd.record.app.as_deref(), Some("ttyd"));
    // The peer's resource group has no App Proxy that runs: the manager carries it, and the
    // forward says why.
    assert_eq!(
        ttyd.record.via.as_deref(),
        Some(
            format!(
                "the manager's tcpproxy (resource group \"{REAL_GROUP}\" has no App Proxy: the \
                 manager reports v1)"
            )
            .as_str()
        )
    );
    let page = http_get(ttyd.local, "/").await.unwrap();
    assert!(page.contains("ttyd"), "{page}");
    let sshd = engine.open_app(&name, "sshd", None).await.unwrap();
    assert_eq!(sshd.record.kind, AppKind::Ssh);
    assert!(
        sshd.record
            .address("work")
            .starts_with("ssh://work@127.0.0.1:")
    );
    let mut ssh = tokio::net::TcpStream::connect(sshd.local).await.unwrap();
    let mut greeting = [0u8; 8];
    tokio::time::timeout(Duration::from_secs(20), ssh.read_exact(&mut greeting))
        .await
        .expect("sshd greets within 20 s")
        .unwrap();
    assert_eq!(&greeting, b"SSH-2.0-");
    drop(ssh);
    // Logged in with the key the kernel made, by the real OpenSSH client and the command Berth
    // prints: the key fetched and kept private, the kernel's host key pinned on first use.
    let keys = tempfile::tempdir().unwrap();
    let access = engine
        .session_ssh_access(&name, sshd.local.port(), keys.path())
        .await
        .unwrap();
    let key_file = keys.path().join(format!("{}.key", created.id));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only its owner may read the key");
    }
    // It is the key the kernel lets in: its public half is in the kernel's authorized_keys.
    let public = std::process::Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&key_file)
        .output()
        .unwrap();
    let public = String::from_utf8_lossy(&public.stdout).into_owned();
    let blob = public
        .split_whitespace()
        .nth(1)
        .expect("a public key")
        .to_owned();
    let (authorized, _, _) = exec(&engine, &name, "cat /home/work/.ssh/authorized_keys").await;
    assert!(authorized.contains(&blob), "{authorized}");
    // The real OpenSSH client with the command Berth prints gets through the tunnel to the
    // kernel's sshd and as far as the login. (This peer's kernels run as root, and Backend.AI's
    // dropbear refuses root logins (-w); production kernels run as `work`, whom it lets in.)
    let command = access.command.clone();
    let ran = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{command} -o BatchMode=yes 'echo in-the-kernel-$((6*7))'"
            ))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&ran.stderr);
    assert!(
        String::from_utf8_lossy(&ran.stdout) == "in-the-kernel-42\n"
            || said.contains("Permission denied (publickey"),
        "{said}"
    );
    // (ssh may hash the names it writes there: asked by name, as ssh itself looks it up.)
    let pinned = std::process::Command::new("ssh-keygen")
        .args(["-F", &format!("berth-{name}"), "-f"])
        .arg(keys.path().join(format!("{}.known_hosts", created.id)))
        .output()
        .unwrap();
    assert!(
        pinned.status.success(),
        "the kernel's host key is pinned under the session's name"
    );

    // The session ends: so do its forwards, saying why.
    engine.destroy_session(&name).await.unwrap();
    let why = tokio::time::timeout(Duration::from_secs(60), forward.ended())
        .await
        .expect("the forward ends with its session");
    assert!(why.contains(&name), "{why}");
    assert!(!forward.is_open());
}

/// A user of the cluster whose kernels run as uid 1000, as production kernels do (the peer's
/// agent runs them as root, whom Backend.AI's dropbear refuses; a user's container UID, a
/// Backend.AI 25.2 setting, overrides it), made by the administrator for this test. Returns
/// their engine and their email.
async fn ordinary_user_engine() -> (BackendAiEngine, String) {
    let admin = Connection::open(MANAGER, admin_keypair()).await.unwrap();
    let groups: serde_json::Value = admin
        .graphql(
            "query { groups(domain_name: \"default\") { id name } }",
            serde_json::json!({}),
        )
        .await
        .unwrap();
    let project = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "default")
        .expect("the default project")["id"]
        .clone();
    let email = format!("{}@berth.test", unique("ssh-user"));
    let created: serde_json::Value = admin
        .graphql(
            "mutation($email: String!, $props: UserInput!) { create_user(email: $email, \
             props: $props) { ok msg keypair { access_key secret_key } } }",
            serde_json::json!({
                "email": email,
                "props": {
                    "username": email.trim_end_matches("@berth.test"),
                    "password": format!("Pw-{}", unique("x")),
                    "need_password_change": false,
                    "domain_name": "default",
                    "group_ids": [project],
                    "container_uid": 1000,
                    "container_main_gid": 1000,
                },
            }),
        )
        .await
        .unwrap();
    let answer = &created["create_user"];
    assert_eq!(answer["ok"], true, "{answer}");
    let key = |name: &str| answer["keypair"][name].as_str().unwrap().to_owned();
    let connection = Connection::open(
        MANAGER,
        Credentials::Keypair {
            access_key: key("access_key"),
            secret_key: key("secret_key"),
        },
    )
    .await
    .unwrap();
    (BackendAiEngine::new("ssh-user", connection), email)
}

/// Deletes the user [`ordinary_user_engine`] made, with what they owned.
async fn remove_user(email: &str) {
    let admin = Connection::open(MANAGER, admin_keypair()).await.unwrap();
    let purged: Result<serde_json::Value, _> = admin
        .graphql(
            "mutation($email: String!) { purge_user(email: $email, \
             props: {purge_shared_vfolders: false}) { ok msg } }",
            serde_json::json!({ "email": email }),
        )
        .await;
    if let Err(error) = purged {
        eprintln!("cleanup: user {email}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_and_sftp_log_in_to_a_real_kernel_that_runs_as_an_ordinary_user() {
    require_peer().await;
    let (engine, email) = ordinary_user_engine().await;
    let engine = std::sync::Arc::new(engine);
    let name = unique("bs-ssh-work");
    let created = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            resource_group: Some(REAL_GROUP.into()),
            ..NewSession::interactive(REAL_IMAGE, vec![])
        })
        .await;
    let (engine_in, name_in) = (engine.clone(), name.clone());
    let outcome = async move {
        let (engine, name) = (engine_in, name_in);
        assert_eq!(created.unwrap().status, SessionStatus::Running);
        let (uid, _, _) = exec(&engine, &name, "id -u").await;
        assert_eq!(
            uid.trim(),
            "1000",
            "the kernel runs as the user's container UID"
        );

        // The real OpenSSH client, with the command Berth prints, logs in through the tunnel
        // with the key the kernel made and runs a command there as `work`.
        let sshd = engine.open_app(&name, "sshd", None).await.unwrap();
        let keys = tempfile::tempdir().unwrap();
        let access = engine
            .session_ssh_access(&name, sshd.local.port(), keys.path())
            .await
            .unwrap();
        let command = access.command.clone();
        let ran = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{command} -o BatchMode=yes 'echo in-the-kernel-$((6*7)) as $(id -un)'"
                ))
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ran.stdout),
            "in-the-kernel-42 as work\n",
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );

        // An SFTP client, given the `~/.ssh/config` entry Berth writes, puts a file into the
        // kernel's home on the same forward.
        let local = keys.path().join("notes.txt");
        std::fs::write(&local, "put over sftp\n").unwrap();
        let config = keys.path().join("config");
        std::fs::write(&config, &access.config_entry).unwrap();
        let batch = format!("put {} /home/work/notes.txt\n", local.display());
        let host = access.host.clone();
        let put = tokio::task::spawn_blocking(move || {
            let mut child = std::process::Command::new("sftp")
                .arg("-F")
                .arg(&config)
                .args(["-o", "BatchMode=yes", "-b", "-", &host])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(batch.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        assert!(
            put.status.success(),
            "{}",
            String::from_utf8_lossy(&put.stderr)
        );
        let (landed, _, _) = exec(&engine, &name, "cat /home/work/notes.txt").await;
        assert_eq!(landed, "put over sftp\n");
    };
    let result = tokio::spawn(outcome).await;
    let _ = engine.destroy_session(&name).await;
    remove_user(&email).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}
