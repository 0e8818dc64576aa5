//! Real bubblewrap sandboxes through the engine API: what a session sees, what persists, what
//! stays out of reach. Every session is destroyed by the test that made it (a guard does it on
//! panic too), so no sandbox outlives the run.

use crate::{Fixture, Running, engine, runtime};
use berth_core::{
    Engine, EnvVar, ErrorCode, FolderPath, FolderPermission, MountAccess, MountRequest, NewFolder,
    NewSession, SessionStatus, SessionType,
};

fn folder(fixture: &Fixture, name: &str) {
    runtime()
        .block_on(fixture.engine.create_folder(NewFolder::named(name)))
        .unwrap();
}

fn start(fixture: &Fixture, mounts: Vec<MountRequest>) -> Running<'_> {
    let session = runtime()
        .block_on(
            fixture
                .engine
                .create_session(NewSession::interactive("host", mounts)),
        )
        .unwrap();
    assert_eq!(session.status, SessionStatus::Running);
    Running {
        fixture,
        id: session.id,
    }
}

fn read_in_folder(fixture: &Fixture, name: &str, path: &str) -> Option<String> {
    let folder = runtime().block_on(fixture.engine.folder(name)).unwrap();
    std::fs::read_to_string(fixture.engine.folder_path(&folder).join(path)).ok()
}

#[test]
fn the_seed_writes_persist_in_folders_and_scratch_is_gone() {
    let fixture = engine();
    folder(&fixture, "user1-ml-test");
    folder(&fixture, "user2-vfolder");
    let session = start(
        &fixture,
        vec![
            MountRequest::folder("user1-ml-test"),
            MountRequest::folder("user2-vfolder"),
        ],
    );
    let listing = session.ok("ls /home/work");
    assert!(
        listing.contains("user1-ml-test") && listing.contains("user2-vfolder"),
        "{listing}"
    );
    session.ok(r#"echo "file inside user2-vfolder" > user2-vfolder/test_file"#);
    assert_eq!(
        session.ok("cat user2-vfolder/test_file"),
        "file inside user2-vfolder\n"
    );
    session.ok("echo scratch > /home/work/outside.txt");
    let ended = session.destroy();
    assert_eq!(ended.status, SessionStatus::Terminated);

    assert_eq!(
        read_in_folder(&fixture, "user2-vfolder", "test_file").as_deref(),
        Some("file inside user2-vfolder\n")
    );
    let listed = runtime()
        .block_on(
            fixture
                .engine
                .list_files("user2-vfolder", &FolderPath::root()),
        )
        .unwrap();
    assert!(listed.iter().any(|e| e.name == "test_file"));
    // The scratch file is nowhere: not in a folder, not in the next session.
    let next = start(&fixture, vec![MountRequest::folder("user2-vfolder")]);
    // Only the folder, and the default profile every session gets (see `personal.rs`).
    assert_eq!(next.ok("ls -A /home/work"), ".profile\nuser2-vfolder\n");
    assert_eq!(
        next.ok("cat user2-vfolder/test_file"),
        "file inside user2-vfolder\n"
    );
}

#[test]
fn read_only_mounts_refuse_writes() {
    let fixture = engine();
    folder(&fixture, "asked-ro");
    runtime()
        .block_on(fixture.engine.create_folder(NewFolder {
            permission: FolderPermission::Ro,
            ..NewFolder::named("is-ro")
        }))
        .unwrap();
    let session = start(
        &fixture,
        vec![
            MountRequest {
                folder: "asked-ro".into(),
                alias: None,
                access: Some(MountAccess::ReadOnly),
            },
            MountRequest::folder("is-ro"),
        ],
    );
    for dir in ["asked-ro", "is-ro"] {
        let out = session.exec(&format!("echo x > {dir}/f"));
        assert_ne!(out.code, 0, "{dir} took a write");
        assert!(
            out.stderr_text().contains("Read-only file system"),
            "{}",
            out.stderr_text()
        );
        assert_eq!(read_in_folder(&fixture, dir, "f"), None);
    }
}

#[test]
fn aliases_and_automounts_land_at_their_targets() {
    let fixture = engine();
    for name in ["ws", "data2", ".local", ".linuxbrew"] {
        folder(&fixture, name);
    }
    let session = start(
        &fixture,
        vec![
            MountRequest {
                folder: "ws".into(),
                alias: Some("/workspace".into()),
                access: None,
            },
            MountRequest {
                folder: "data2".into(),
                alias: Some("sub/dir/data2".into()),
                access: None,
            },
        ],
    );
    session.ok("echo a > /workspace/a && echo b > /home/work/sub/dir/data2/b");
    session.ok("echo c > /home/work/.local/c && echo d > /home/linuxbrew/.linuxbrew/d");
    assert_eq!(read_in_folder(&fixture, "ws", "a").as_deref(), Some("a\n"));
    assert_eq!(
        read_in_folder(&fixture, "data2", "b").as_deref(),
        Some("b\n")
    );
    assert_eq!(
        read_in_folder(&fixture, ".local", "c").as_deref(),
        Some("c\n")
    );
    assert_eq!(
        read_in_folder(&fixture, ".linuxbrew", "d").as_deref(),
        Some("d\n")
    );
    // Homebrew's bin is on the PATH when its folder is there.
    assert!(
        session
            .ok("echo $PATH")
            .starts_with("/home/linuxbrew/.linuxbrew/bin:")
    );
}

#[test]
fn a_session_sees_only_what_it_should_of_the_host() {
    let fixture = engine();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let session = start(&fixture, vec![]);
    assert_eq!(
        session.ok("id -u; id -un; echo $HOME; pwd"),
        "1000\nwork\n/home/work\n/home/work\n"
    );
    assert_eq!(session.ok("ls -A /home"), "work\n");
    assert_ne!(session.exec("ls /root").code, 0, "host /root is visible");
    let shadow = session.exec("cat /etc/shadow");
    assert_ne!(shadow.code, 0, "read /etc/shadow: {}", shadow.stdout_text());
    assert_ne!(
        session
            .exec(&format!("exec 3<>/dev/tcp/127.0.0.1/{port}"))
            .code,
        0,
        "reached a port on the host's loopback"
    );
    let userns = session.exec("unshare --user true");
    assert_ne!(userns.code, 0, "created a user namespace");
    // Its own PID namespace: the host's processes are not there.
    let pids = session.ok("ls /proc | grep -c '^[0-9]'");
    assert!(
        pids.trim().parse::<u32>().unwrap() < 10,
        "{pids} processes visible"
    );
    // The host's root is not root inside, and the sandbox's files are not root's outside.
    folder(&fixture, "owned");
    drop(session);
    let session = start(&fixture, vec![MountRequest::folder("owned")]);
    session.ok("touch owned/mine");
    let folder = runtime().block_on(fixture.engine.folder("owned")).unwrap();
    let meta = std::fs::metadata(fixture.engine.folder_path(&folder).join("mine")).unwrap();
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let expected = if me == 0 { 65534 } else { me };
    assert_eq!(
        meta.uid(),
        expected,
        "a session's file belongs to the session user"
    );
    drop(listener);
}

#[test]
fn a_batch_session_runs_its_command_keeps_logs_and_ends_with_its_status() {
    let fixture = engine();
    let rt = runtime();
    let mut spec = NewSession::interactive("host", vec![]);
    spec.session_type = SessionType::Batch;
    spec.command = Some("echo hello from batch; echo oops >&2; exit 3".into());
    let session = rt.block_on(fixture.engine.create_session(spec)).unwrap();
    let ended = (0..100)
        .find_map(|_| {
            let s = rt.block_on(fixture.engine.session(&session.id)).unwrap();
            if s.status.is_live() {
                std::thread::sleep(std::time::Duration::from_millis(50));
                None
            } else {
                Some(s)
            }
        })
        .expect("batch session ended");
    assert_eq!(ended.status, SessionStatus::Terminated);
    assert_eq!(ended.exit_code, Some(3));
    assert!(ended.status_detail.unwrap().contains("exit status 3"));
    let logs = rt
        .block_on(fixture.engine.session_logs(&session.id))
        .unwrap();
    assert!(
        logs.contains("hello from batch") && logs.contains("oops"),
        "{logs}"
    );
}

#[test]
fn a_dead_supervisor_ends_only_its_own_session() {
    let fixture = engine();
    let doomed = start(&fixture, vec![]);
    let survivor = start(&fixture, vec![]);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            fixture
                .engine
                .session_runtime_dir(&doomed.id)
                .join("state.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let supervisor = state["supervisor_pid"].as_i64().unwrap() as i32;
    let sandbox = state["sandbox_pid"].as_i64().unwrap() as i32;
    // SAFETY: killing the supervisor this test started.
    unsafe { libc::kill(supervisor, libc::SIGKILL) };
    // Dead means gone or a zombie: an orphan is reaped by whatever init the machine has, which
    // in some containers is slow to do it.
    let gone = (0..250).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        match std::fs::read_to_string(format!("/proc/{sandbox}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
        }
    });
    assert!(gone, "the sandbox outlived its supervisor");
    let listed = runtime().block_on(fixture.engine.list_sessions()).unwrap();
    let dead = listed.iter().find(|s| s.id == doomed.id).unwrap();
    assert_eq!(dead.status, SessionStatus::Error);
    assert!(
        dead.status_detail
            .as_deref()
            .unwrap()
            .contains("supervisor stopped")
    );
    assert!(!fixture.engine.session_runtime_dir(&doomed.id).exists());
    assert_eq!(survivor.ok("echo alive"), "alive\n");
}

/// Processes that hold `path` open (the session log: the supervisor, bwrap and everything in
/// the sandbox write their stderr there).
fn holders_of(path: &std::path::Path) -> Vec<String> {
    let mut holders = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
        {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            holders.push(format!("{pid} {}", comm.trim()));
        }
    }
    holders
}

/// A machine too slow to bring a sandbox up within the engine's wait cannot be made on demand,
/// so this stands in for one: the real supervisor, whose answer reaches the engine 3 s late
/// (a shell pipe in between), against a 1 s timeout. The start fails with a message saying so,
/// and the sandbox that came up meanwhile ends instead of running on where no list shows it.
#[test]
fn a_start_slower_than_the_timeout_fails_and_leaves_no_sandbox_behind() {
    use std::os::unix::fs::PermissionsExt;
    let fixture = engine();
    let slow = fixture.root.path().join("slow-supervisor");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\n'{}' \"$@\" | {{ sleep 3; cat; }}\n",
            env!("CARGO_BIN_EXE_berth-supervisor")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    fixture.engine.set_supervisor(slow);
    fixture
        .engine
        .set_start_timeout(std::time::Duration::from_secs(1));
    let rt = runtime();
    let mut spec = NewSession::interactive("host", vec![]);
    spec.name = Some("slow".into());
    let error = rt
        .block_on(fixture.engine.create_session(spec))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Internal);
    assert!(
        error.message.contains("did not come up within 1 s"),
        "{}",
        error.message
    );
    let listed = rt.block_on(fixture.engine.list_sessions()).unwrap();
    let failed = listed.iter().find(|s| s.name == "slow").unwrap();
    assert_eq!(failed.status, SessionStatus::Error);
    let log = fixture
        .root
        .path()
        .join("data/sessions")
        .join(format!("{}.log", failed.id));
    // The sandbox comes up about 3 s after the start; its supervisor then finds nobody
    // recorded it and ends it. Give that 15 s on a busy machine.
    let mut holders = holders_of(&log);
    for _ in 0..150 {
        if holders.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        holders = holders_of(&log);
    }
    assert!(holders.is_empty(), "still running: {holders:?}");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("the engine stopped waiting for this session to start"),
        "{said}"
    );
}

#[test]
fn refused_plans_start_nothing() {
    let fixture = engine();
    folder(&fixture, "a");
    let rt = runtime();
    let bad = NewSession::interactive(
        "host",
        vec![MountRequest {
            folder: "a".into(),
            alias: Some("../../etc".into()),
            access: None,
        }],
    );
    let error = rt.block_on(fixture.engine.create_session(bad)).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(error.message.contains("\"a\""), "{}", error.message);
    let missing = NewSession::interactive("host", vec![MountRequest::folder("nope")]);
    assert_eq!(
        rt.block_on(fixture.engine.create_session(missing))
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );
    assert!(
        rt.block_on(fixture.engine.list_sessions())
            .unwrap()
            .is_empty()
    );
}

/// A wheel built in one session (no network: Python's zipfile writes it) and installed with
/// `pip install --user` lands in the `.local` folder and is importable in the next session.
#[test]
fn pip_install_user_persists_through_the_local_folder() {
    if !std::path::Path::new("/usr/bin/python3").exists() {
        panic!("python3 is missing: scripts/setup-debian --test installs python3-pip");
    }
    let fixture = engine();
    folder(&fixture, ".local");
    let first = start(&fixture, vec![]);
    let build = r#"
import zipfile, hashlib, base64
files = {
    "berthdemo/__init__.py": "VALUE = 'installed in an earlier session'\n",
    "berthdemo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: berthdemo\nVersion: 1.0\n",
    "berthdemo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile("/tmp/berthdemo-1.0-py3-none-any.whl", "w") as whl:
    for name, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
        whl.writestr(name, data)
    record.append("berthdemo-1.0.dist-info/RECORD,,")
    whl.writestr("berthdemo-1.0.dist-info/RECORD", "\n".join(record) + "\n")
"#;
    first.ok(&format!("python3 -c '{}'", build.replace('\'', "'\\''")));
    first
        .ok("python3 -m pip install --user --no-index --quiet /tmp/berthdemo-1.0-py3-none-any.whl");
    first.destroy();

    let next = start(&fixture, vec![]);
    assert_eq!(
        next.ok("python3 -c 'import berthdemo; print(berthdemo.VALUE)'"),
        "installed in an earlier session\n"
    );
    assert!(
        next.ok("ls /home/work/.local/lib/python3*/site-packages")
            .contains("berthdemo")
    );
}

/// What the launcher says is enforced is: CPUs are pinned, scratch is a size-bounded tmpfs.
#[test]
fn cpu_and_scratch_limits_hold_inside_the_session() {
    let fixture = engine();
    let limits = runtime()
        .block_on(fixture.engine.resource_limits(&Default::default()))
        .unwrap();
    assert_eq!(limits.cpus, berth_core::LimitEnforcement::Enforced);
    assert_eq!(limits.scratch, berth_core::LimitEnforcement::Enforced);
    let mut spec = NewSession::interactive("host", vec![]);
    spec.resources.cpus = Some(1);
    spec.resources.scratch_bytes = Some(32 << 20);
    let session = runtime()
        .block_on(fixture.engine.create_session(spec))
        .unwrap();
    let running = Running {
        fixture: &fixture,
        id: session.id,
    };
    assert_eq!(running.ok("nproc"), "1\n");
    let full = running.exec("head -c 48M /dev/zero > /home/work/big");
    assert_ne!(full.code, 0);
    assert!(
        full.stderr_text().contains("No space left"),
        "{}",
        full.stderr_text()
    );
    // Asking for more than the machine has is refused before anything starts.
    let mut greedy = NewSession::interactive("host", vec![]);
    greedy.resources.cpus = Some(limits.max_cpus + 1);
    let error = runtime()
        .block_on(fixture.engine.create_session(greedy))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(error.message.contains("CPUs"), "{}", error.message);
}

/// Variables given at creation are in the environment of the startup command, of an exec and
/// of a terminal opened later (a login shell), replace an engine default of the same name
/// (once, not twice), and are kept on the session's record; values keep their spaces, quotes
/// and newlines as given.
#[test]
fn variables_reach_the_startup_command_execs_and_terminals() {
    let fixture = engine();
    let rt = runtime();
    let tricky = "it's \"quoted\" $HOME;\nsecond line";
    let environ = vec![
        EnvVar::new("GREETING", "hello world"),
        EnvVar::new("TRICKY", tricky),
        // The engine's default is /bin/bash; the user's value replaces it.
        EnvVar::new("SHELL", "/bin/sh"),
        EnvVar::new("EMPTY", ""),
    ];

    let mut batch = NewSession::interactive("host", vec![]);
    batch.session_type = SessionType::Batch;
    batch.command = Some(r#"echo "batch saw [$GREETING] [$SHELL]""#.into());
    batch.environ = environ.clone();
    let session = rt.block_on(fixture.engine.create_session(batch)).unwrap();
    let ended = (0..100)
        .find_map(|_| {
            let s = rt.block_on(fixture.engine.session(&session.id)).unwrap();
            (!s.status.is_live()).then_some(s).or_else(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                None
            })
        })
        .expect("batch session ended");
    assert_eq!(ended.exit_code, Some(0), "{:?}", ended.status_detail);
    let logs = rt
        .block_on(fixture.engine.session_logs(&session.id))
        .unwrap();
    assert!(logs.contains("batch saw [hello world] [/bin/sh]"), "{logs}");

    let mut spec = NewSession::interactive("host", vec![]);
    spec.environ = environ.clone();
    let created = rt.block_on(fixture.engine.create_session(spec)).unwrap();
    assert_eq!(created.environ, environ);
    let running = Running {
        fixture: &fixture,
        id: created.id,
    };
    assert_eq!(
        running.ok(
            r#"printf '%s|%s|%s|' "$GREETING" "$SHELL" "${EMPTY-unset}"; printf '%s' "$TRICKY""#
        ),
        format!("hello world|/bin/sh||{tricky}")
    );
    assert_eq!(running.ok("env | grep -c '^SHELL='"), "1\n");
    // The engine's own variables are still there.
    assert_eq!(
        running.ok(r#"echo "$HOME $BERTH_SESSION_ID""#),
        format!("/home/work {}\n", running.id)
    );
    let out = crate::personal::in_terminal(
        &fixture,
        &running.id,
        r#"echo "terminal saw [$GREETING]"; echo DONE-$((1+1))"#,
        "DONE-2",
    );
    assert!(out.contains("terminal saw [hello world]"), "{out}");
    // The record the sessions page and `berth session info` read keeps them.
    let listed = rt.block_on(fixture.engine.session(&running.id)).unwrap();
    assert_eq!(listed.environ, environ);
}

/// A bad or reserved name is refused before anything starts: no session row, no sandbox.
#[test]
fn a_bad_variable_name_starts_nothing() {
    let fixture = engine();
    let rt = runtime();
    for (name, rule) in [
        ("MY-VAR", "starts with a letter or '_'"),
        ("1X", "starts with a letter or '_'"),
        ("HOME", "set by the engine"),
        ("BERTH_SESSION_ID", "belong to the engine"),
    ] {
        let mut spec = NewSession::interactive("host", vec![]);
        spec.environ = vec![EnvVar::new("FINE", "1"), EnvVar::new(name, "x")];
        let error = rt
            .block_on(fixture.engine.create_session(spec))
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput, "{name}");
        assert!(
            error.message.contains(&format!("\"{name}\"")) && error.message.contains(rule),
            "{name}: {}",
            error.message
        );
    }
    assert!(
        rt.block_on(fixture.engine.list_sessions())
            .unwrap()
            .is_empty()
    );
    let sandboxes = std::fs::read_dir(fixture.run.path().join("sessions"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(sandboxes, 0, "a runtime directory was made");
}

/// An upload, a new directory and a move made while a session runs are writable inside it.
#[test]
fn what_berth_writes_into_a_mounted_folder_is_writable_by_the_running_session() {
    let fixture = engine();
    folder(&fixture, "user2-vfolder");
    let session = start(&fixture, vec![MountRequest::folder("user2-vfolder")]);
    crate::writes_while_running::assert_engine_writes_are_writable_inside(
        &fixture,
        "user2-vfolder",
        "/home/work/user2-vfolder",
        |script| session.exec(script),
    );
}
