//! Sessions on the peer's real agent (`../shared/backendai-peer/agent`: real kernels in Podman,
//! resource group `podman`, image alias `python-podman`), where code runs: the terminal through
//! the manager's tcpproxy, and placing a session in the project and resource group the user
//! picks — with the cluster's refusal, in words, when they may not.

use berth_core::frames::FrameStream;
use std::time::Duration;

use berth_backendai::terminal::{TerminalTransport, TransportChoice, open_terminal};
use berth_core::frames::{Frame, read_frame, resize_payload, write_frame};
use berth_core::{Engine, ErrorCode, MountAccess, MountRequest, NewSession, SessionStatus};

use crate::sessions::{Cleanup, folder};
use crate::*;

/// The real agent's resource group and image (see the peer's README, "A real agent").
pub const REAL_GROUP: &str = "podman";
pub const REAL_IMAGE: &str = "cr.backend.ai/stable/python:3.11-debian12";

/// Output frames until `wanted` has arrived; panics with what came when the stream ends.
fn read_until(stream: &mut FrameStream, wanted: &str) -> String {
    let mut seen = Vec::new();
    let mut payload = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(wanted) {
        match read_frame(stream, &mut payload) {
            Ok(Some(Frame::Output)) => seen.extend_from_slice(&payload),
            Ok(Some(_)) => {}
            other => panic!(
                "the terminal ended or stalled ({other:?}) before {wanted:?}: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_on_a_real_kernel_runs_commands_and_follows_resizes_through_the_tcpproxy() {
    let engine = engine().await;
    let name = unique("bs-real-tty");
    let mut cleanup = Cleanup::default();
    cleanup.sessions.push(name.clone());
    let created = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            resource_group: Some(REAL_GROUP.into()),
            ..NewSession::interactive(REAL_IMAGE, vec![])
        })
        .await
        .unwrap();
    assert_eq!(created.status, SessionStatus::Running, "{created:?}");
    assert_eq!(
        psql(&format!(
            "select scaling_group_name from sessions where id = '{}'",
            created.id
        )),
        REAL_GROUP,
        "the manager placed it where it was asked to"
    );

    // The peer's groups have no working App Proxy, so the terminal goes through the manager's
    // tcpproxy to the session's ttyd — and says why.
    let opened = open_terminal(
        engine.connection(),
        &created.id,
        &name,
        100,
        30,
        TransportChoice::Auto,
    )
    .await
    .unwrap();
    assert_eq!(opened.transport, TerminalTransport::Tcpproxy);
    let described = opened.describe();
    assert!(
        described.contains("tcpproxy") && described.contains("App Proxy was not used"),
        "{described}"
    );

    let (first, resized) = tokio::task::spawn_blocking(move || {
        let mut stream = opened.stream;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // The marker is computed by the shell, so the echoed command line does not hold it.
        write_frame(
            &mut stream,
            Frame::Input,
            b"stty size; echo kernel-$((6*7)) $(id -u)\r",
        )
        .unwrap();
        let first = read_until(&mut stream, "kernel-42");
        write_frame(&mut stream, Frame::Resize, &resize_payload(120, 40)).unwrap();
        // bash in tmux (as Backend.AI's ttyd runs it) redraws on the resize; then ask again.
        std::thread::sleep(Duration::from_millis(500));
        write_frame(
            &mut stream,
            Frame::Input,
            b"stty size; echo resized-$((6*7))\r",
        )
        .unwrap();
        let resized = read_until(&mut stream, "resized-42");
        (first, resized)
    })
    .await
    .unwrap();
    // The same through the manager with an API keypair (the CLI's and power users' login):
    // the websocket upgrade is signed, content type included.
    let keypair = berth_backendai::Connection::open(MANAGER, keypair())
        .await
        .map(std::sync::Arc::new)
        .unwrap();
    let opened = open_terminal(&keypair, &created.id, &name, 80, 24, TransportChoice::Auto)
        .await
        .unwrap();
    assert_eq!(opened.transport, TerminalTransport::Tcpproxy);
    let signed = tokio::task::spawn_blocking(move || {
        let mut stream = opened.stream;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write_frame(&mut stream, Frame::Input, b"echo signed-$((6*7))\r").unwrap();
        read_until(&mut stream, "signed-42")
    })
    .await
    .unwrap();
    assert!(signed.contains("signed-42"));

    // Backend.AI's ttyd runs bash in tmux, whose status line takes the tab's last row.
    assert!(
        first.contains("29 100\r\nkernel-42 0"),
        "the shell's pane has the tab's size, as root (kernel-uid -1 here): {first:?}"
    );
    assert!(
        resized.contains("39 120\r\nresized-42"),
        "the pane follows the resize: {resized:?}"
    );
}

#[tokio::test]
async fn a_resource_group_or_project_the_user_may_not_use_is_refused_in_words_before_launch() {
    let engine = engine().await;
    let refused = |group: Option<&str>, project: Option<&str>| {
        let spec = NewSession {
            name: Some(unique("bs-refused")),
            resource_group: group.map(str::to_owned),
            project: project.map(str::to_owned),
            ..NewSession::interactive(REAL_IMAGE, vec![])
        };
        let engine = &engine;
        async move { engine.create_session(spec).await.unwrap_err() }
    };
    let error = refused(Some("gpu-a100"), None).await;
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error}");
    assert!(
        error.message.contains("\"gpu-a100\"")
            && error.message.contains("\"default\"")
            && error.message.contains(&format!("\"{REAL_GROUP}\"")),
        "names the group and the ones the project may use: {error}"
    );
    let error = refused(None, Some("research")).await;
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error}");
    assert!(
        error.message.contains("\"research\"") && error.message.contains("\"default\""),
        "names the project and the user's projects: {error}"
    );
}

/// What `berth session exec` prints and returns: stdout and stderr apart, and the status.
pub async fn exec(
    engine: &berth_backendai::BackendAiEngine,
    name: &str,
    script: &str,
) -> (String, String, i32) {
    let (mut out, mut err) = (String::new(), String::new());
    let argv = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let code =
        berth_backendai::exec::exec(
            engine.connection(),
            name,
            &argv,
            |stream, text| match stream {
                berth_backendai::exec::Stream::Stdout => out.push_str(text),
                berth_backendai::exec::Stream::Stderr => err.push_str(text),
            },
        )
        .await
        .unwrap();
    (out, err, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_on_a_real_kernel_passes_output_and_status_through_and_sees_the_mounts() {
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let input = folder(&engine, &mut cleanup, unique("bs-exec-in")).await;
    let output = folder(&engine, &mut cleanup, unique("bs-exec-out")).await;
    let name = unique("bs-real-exec");
    cleanup.sessions.push(name.clone());
    let created = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            resource_group: Some(REAL_GROUP.into()),
            ..NewSession::interactive(
                REAL_IMAGE,
                vec![
                    MountRequest {
                        folder: input.clone(),
                        alias: Some("/data/in".into()),
                        access: Some(MountAccess::ReadOnly),
                    },
                    MountRequest {
                        folder: output.clone(),
                        alias: Some("results".into()),
                        access: None,
                    },
                ],
            )
        })
        .await
        .unwrap();
    assert_eq!(created.status, SessionStatus::Running, "{created:?}");

    // Output from the first instant (the execute API's own `exec` step loses it), both
    // streams apart, and the status.
    let (out, err, code) = exec(
        &engine,
        &name,
        "echo first; echo oops >&2; ls /home/work; echo written > /home/work/results/from-exec; \
         (echo x > /data/in/x) 2>/dev/null || echo read-only-refused; exit 3",
    )
    .await;
    assert_eq!(code, 3, "stdout {out:?} stderr {err:?}");
    assert_eq!(err, "oops\n");
    assert!(out.starts_with("first\n"), "{out:?}");
    assert!(
        out.contains("results\n"),
        "the relative alias under /home/work: {out:?}"
    );
    assert!(out.ends_with("read-only-refused\n"), "{out:?}");

    // Again, longer than the manager's 2-second flush: the kernel is still usable, and the
    // write above landed in the folder.
    let (out, err, code) = exec(&engine, &name, "sleep 3; cat /home/work/results/from-exec").await;
    assert_eq!((out.as_str(), err.as_str(), code), ("written\n", "", 0));
    let (_, _, killed) = exec(&engine, &name, "kill -9 $$").await;
    assert_eq!(killed, 137, "a signal reads as a shell's 128 + signal");

    // The manager's idle checks as it reports them (this keypair sets no lifetime, so no end),
    // and the usage figures where the agent sends them (the peer's agent under Podman sends
    // none: then the refusal says so rather than showing zeros).
    let read = engine.session(&name).await.unwrap();
    let lifetime = read
        .server_checks
        .iter()
        .find(|c| c.name == "session_lifetime")
        .unwrap_or_else(|| panic!("no lifetime check: {:?}", read.server_checks));
    assert_eq!(
        (lifetime.what.as_str(), lifetime.ends_at_ms),
        ("its lifetime", None)
    );
    match engine.session_stats(&name).await {
        Ok(stats) => assert!(stats.memory_bytes > 0, "{stats:?}"),
        Err(error) => assert!(
            error.message.contains("live_stat is empty"),
            "{}",
            error.message
        ),
    }
    // Berth's own limits are the local engine's: the cluster's administrators set these.
    let refused = engine
        .create_session(NewSession {
            limits: berth_core::SessionLimits {
                lifetime_secs: Some(3600),
                ..Default::default()
            },
            resource_group: Some(REAL_GROUP.into()),
            ..NewSession::interactive(REAL_IMAGE, vec![])
        })
        .await
        .unwrap_err();
    assert!(
        refused.message.contains("administrators' rules"),
        "{}",
        refused.message
    );
}

// ---------------------------------------------------------------------------------------------
// A terminal whose tunnel drops, whose session is destroyed, or whose kernel dies: real faults
// on the real kernel's container, from the host.

/// A new interactive session on the real agent, to be destroyed by `cleanup`.
async fn real_session(
    engine: &berth_backendai::BackendAiEngine,
    cleanup: &mut Cleanup,
    prefix: &str,
) -> berth_core::Session {
    let name = unique(prefix);
    cleanup.sessions.push(name.clone());
    let created = engine
        .create_session(NewSession {
            name: Some(name),
            resource_group: Some(REAL_GROUP.into()),
            ..NewSession::interactive(REAL_IMAGE, vec![])
        })
        .await
        .unwrap();
    assert_eq!(created.status, SessionStatus::Running, "{created:?}");
    created
}

/// The host's view of session `id`'s container: Podman's id for it.
fn container_of(session_id: &str) -> String {
    let out = std::process::Command::new("podman")
        .args(["ps", "-q", "--filter"])
        .arg(format!("label=ai.backend.session-id={session_id}"))
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!id.is_empty(), "no container runs session {session_id}");
    id
}

/// Kills (SIGKILL) every ttyd in session `id`'s container, from the host: the tunnel to the
/// terminal drops as it does when ttyd or a proxy on the way goes away. Returns how many.
fn kill_ttyd(session_id: &str) -> usize {
    let out = std::process::Command::new("podman")
        .args(["inspect", "-f", "{{.State.Pid}}", &container_of(session_id)])
        .output()
        .unwrap();
    let init: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let namespace = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let theirs = namespace(&init.to_string());
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "ttyd" && namespace(&pid) == theirs {
            let pid: i32 = pid.parse().unwrap();
            // SAFETY: kill(2) on a pid read just now; at worst it is gone (ESRCH).
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
    }
    killed
}

/// Output until `wanted` (with `None`, until the end) or the terminal's end: what came, and
/// the exit status if it ended.
fn read_until_or_end(stream: &mut FrameStream, wanted: Option<&str>) -> (String, Option<i32>) {
    let mut seen = Vec::new();
    let mut payload = Vec::new();
    while wanted.is_none_or(|wanted| !String::from_utf8_lossy(&seen).contains(wanted)) {
        match read_frame(stream, &mut payload) {
            Ok(Some(Frame::Output)) => seen.extend_from_slice(&payload),
            Ok(Some(Frame::Exit)) => {
                return (
                    String::from_utf8_lossy(&seen).into_owned(),
                    Some(berth_core::frames::parse_exit(&payload)),
                );
            }
            Ok(Some(_)) => {}
            other => panic!(
                "the terminal stalled ({other:?}) before {wanted:?}: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    (String::from_utf8_lossy(&seen).into_owned(), None)
}

/// Everything the terminal says until it ends, and how it ended.
async fn read_to_end(mut stream: FrameStream) -> (String, Option<i32>) {
    tokio::task::spawn_blocking(move || read_until_or_end(&mut stream, None))
        .await
        .unwrap()
}

async fn open_100x30(
    engine: &berth_backendai::BackendAiEngine,
    session: &berth_core::Session,
) -> FrameStream {
    let opened = open_terminal(
        engine.connection(),
        &session.id,
        &session.name,
        100,
        30,
        TransportChoice::Auto,
    )
    .await
    .unwrap();
    opened
        .stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    opened.stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_terminal_reconnects_once_to_the_same_shell_and_a_destroy_ends_it_in_words() {
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let session = real_session(&engine, &mut cleanup, "bs-real-drop").await;
    let id = session.id.clone();

    let stream = open_100x30(&engine, &session).await;
    let (stream, after_drop) = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        write_frame(
            &mut stream,
            Frame::Input,
            b"export MARK=kept-$((6*7)); echo set-$((1+1))\r",
        )
        .unwrap();
        read_until(&mut stream, "set-2");
        assert!(kill_ttyd(&id) > 0, "ttyd runs in the session");
        let (said, end) = read_until_or_end(&mut stream, Some("reconnecting"));
        assert_eq!(end, None, "one drop does not end the terminal: {said}");
        // The same shell (ttyd attaches the kernel's tmux), so what was set is still set.
        write_frame(&mut stream, Frame::Input, b"echo mark=$MARK\r").unwrap();
        let after = read_until(&mut stream, "mark=kept-42");
        (stream, format!("{said}{after}"))
    })
    .await
    .unwrap();
    // Through the webserver (this engine's login) the dead tunnel stays open and silent, so
    // it is the unanswered ping that tells.
    assert!(
        after_drop.contains("Lost the connection to this terminal (nothing came back for"),
        "{after_drop}"
    );

    // Dropping again soon after: no second reconnect, and the reason in the terminal.
    assert!(
        kill_ttyd(&session.id) > 0,
        "ttyd was started again for the reconnect"
    );
    let (gave_up, status) = read_to_end(stream).await;
    assert_eq!(status, Some(-1), "{gave_up}");
    assert!(
        gave_up.contains("so Berth stopped reconnecting")
            && gave_up.contains(&format!("Session {} is still running", session.name)),
        "{gave_up}"
    );

    // A destroy: the manager keeps the tcpproxy open well past the container's end (over a
    // minute, measured), but the terminal ends and says why.
    let stream = open_100x30(&engine, &session).await;
    let (stream, _) = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        write_frame(&mut stream, Frame::Input, b"echo again-$((2+2))\r").unwrap();
        let seen = read_until(&mut stream, "again-4");
        (stream, seen)
    })
    .await
    .unwrap();
    engine.destroy_session(&session.name).await.unwrap();
    let (said, status) = read_to_end(stream).await;
    assert_eq!(status, Some(-1), "{said}");
    assert!(
        said.contains(&format!(
            "Session {} is no longer running (the cluster reports TERMINAT",
            session.name
        )),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_that_dies_under_an_open_terminal_ends_it_and_the_session_says_why() {
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let session = real_session(&engine, &mut cleanup, "bs-real-die").await;
    let stream = open_100x30(&engine, &session).await;
    let id = session.id.clone();
    let stream = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        write_frame(&mut stream, Frame::Input, b"echo alive-$((3*3))\r").unwrap();
        read_until(&mut stream, "alive-9");
        let killed = std::process::Command::new("podman")
            .args(["kill", "--signal", "KILL", &container_of(&id)])
            .output()
            .unwrap();
        assert!(killed.status.success(), "{killed:?}");
        stream
    })
    .await
    .unwrap();
    // Its logs while the manager has not caught up: what is wrong, and whose, in words.
    if let Err(error) = engine.session_logs(&session.name).await {
        assert!(
            error
                .message
                .contains(&format!("session \"{}\"", session.name))
                || error
                    .message
                    .contains(&format!("Session \"{}\"", session.name)),
            "{error}"
        );
    }
    let (said, status) = read_to_end(stream).await;
    assert_eq!(status, Some(-1), "{said}");
    assert!(
        said.contains(&format!("Session {} is no longer running", session.name)),
        "{said}"
    );

    // The manager notices within seconds and says why on the kernel; the session carries it.
    let mut seen = None;
    for _ in 0..60 {
        let now = engine.session(&session.name).await.unwrap();
        if now.status == SessionStatus::Error {
            seen = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let ended = seen.expect("the session ends in error within a minute");
    // Which the cluster reports depends on who noticed first: the agent seeing the container
    // stop, the agent finding it missing at its next check, or the manager's sweep no longer
    // hearing from it; each is said in words.
    let detail = ended.status_detail.as_deref().unwrap_or_default();
    assert!(
        [
            "The cluster ended it: its container stopped on its own (TERMINATED self-terminated).",
            "The cluster ended it: its container is gone (TERMINATED container-not-found).",
            "The cluster ended it: its container stopped reporting to the cluster (TERMINATED \
             STALE_KERNEL).",
        ]
        .contains(&detail),
        "{detail}"
    );
    assert_eq!(
        ended.exit_code, None,
        "the agent has no status for a killed container"
    );
}
