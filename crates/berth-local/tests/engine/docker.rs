//! The Docker-API runtime against a real Podman serving the Docker API on a private socket,
//! with an image imported offline from this machine's binaries. Where Podman is not installed
//! the tests say so and stop — except in CI, where `scripts/setup-debian --test` installs it and
//! a missing Podman is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_core::{
    Engine, MountAccess, MountRequest, NewFolder, NewSession, SessionRuntime, SessionStatus,
    SessionType,
};
use berth_local::docker_host::DockerHost;
use berth_local::supervisor::client::finish_exec;
use berth_local::supervisor::protocol::{Frame, read_frame, write_frame};

use crate::{Fixture, engine, runtime};

const IMAGE: &str = "docker:localhost/berth-test:tiny";

/// A Podman API service of our own: private storage, runc, the rlimits this VM accepts
/// (`local-sandbox.md`). Stopped by PID when dropped.
pub(crate) struct Podman {
    dir: tempfile::TempDir,
    service: Child,
}

impl Podman {
    pub(crate) fn start() -> Option<Self> {
        if Command::new("podman").arg("--version").output().is_err() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "podman is missing in CI: scripts/setup-debian --test installs it"
            );
            eprintln!("skipped: podman is not installed here, so no Docker-API socket exists");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 tmp_dir = \"{0}/tmp\"\nstatic_dir = \"{0}/static\"\nvolume_path = \"{0}/volumes\"\n",
                root.display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/run\"\ngraphroot = \"{0}/graph\"\n",
                root.display()
            ),
        )
        .unwrap();
        let podman = |args: &[&str]| {
            let mut command = Command::new("podman");
            command
                .args(args)
                .env("CONTAINERS_CONF", root.join("containers.conf"))
                .env("CONTAINERS_STORAGE_CONF", root.join("storage.conf"));
            command
        };
        let socket = root.join("docker.sock");
        let service = podman(&[
            "system",
            "service",
            "--time=0",
            &format!("unix://{}", socket.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let podman = Self { dir, service };
        let up = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        assert!(up, "podman system service did not come up");
        // Perl for a server in the session, and sftp-server (tests of its ports and SSH).
        podman.import(
            "berth-test:tiny",
            crate::environments::base_layer_with(crate::environments::perl_and_sftp_files()),
        );
        Some(podman)
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }
}

impl Podman {
    /// Imports `layer` (a root file system as one tar) as image `tag` of this Podman.
    pub(crate) fn import(&self, tag: &str, layer: Vec<u8>) {
        let image = self.dir.path().join("import.tar");
        std::fs::write(&image, layer).unwrap();
        let imported = self
            .command(&["import", &image.to_string_lossy(), tag])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        std::fs::remove_file(image).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("podman");
        command
            .args(args)
            .env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.dir.path().join("storage.conf"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers first (a failed test may leave one): that also unmounts their /dev/shm
        // and ends their conmon monitors. Then the service, then its storage.
        let _ = self
            .command(&["rm", "--all", "--force", "--time", "0"])
            .status();
        let _ = self.service.kill();
        let _ = self.service.wait();
        let _ = self.command(&["system", "reset", "--force"]).status();
        // conmon keeps an exec's exit status for minutes after the exec (--exit-delay), even
        // past the service: end the ones this instance started, found by its private paths.
        let mine = self.dir.path().to_string_lossy().into_owned();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let pid = entry.file_name().to_string_lossy().parse::<i32>();
            if let (Ok(pid), true) = (pid, String::from_utf8_lossy(&cmdline).contains(&mine)) {
                // SAFETY: signalling a monitor process of this test's own Podman.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        // vfs layers are plain directories, some left read-only by the image.
        let _ = Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(self.dir.path())
            .status();
    }
}

/// This machine's Podman serving the Docker API, and an engine that uses it; `None` (the
/// test says so and stops) where Podman is not installed outside CI.
pub(crate) fn engine_on_podman() -> Option<(Podman, Fixture)> {
    let podman = Podman::start()?;
    let fixture = engine();
    fixture
        .engine
        .set_docker_host(DockerHost::Unix(podman.socket()));
    Some((podman, fixture))
}

pub(crate) fn docker_session(fixture: &Fixture, mounts: Vec<MountRequest>) -> berth_core::Session {
    docker_session_of(fixture, NewSession::interactive(IMAGE, mounts))
}

/// `spec` started on the Docker runtime with no network.
pub(crate) fn docker_session_of(fixture: &Fixture, mut spec: NewSession) -> berth_core::Session {
    spec.runtime = Some(SessionRuntime::Docker);
    // "No network" is the one mode this test can check without a reachable outside.
    spec.network = berth_core::NetworkMode::None;
    runtime()
        .block_on(fixture.engine.create_session(spec))
        .unwrap()
}

pub(crate) fn sh(
    fixture: &Fixture,
    id: &str,
    script: &str,
) -> berth_local::supervisor::client::ExecOutput {
    let (_, client) = fixture.engine.session_client(id).unwrap();
    let stream = client
        .exec(vec!["/bin/sh".into(), "-c".into(), script.into()])
        .unwrap();
    finish_exec(stream, b"").unwrap()
}

pub(crate) fn folder_file(fixture: &Fixture, name: &str, path: &str) -> Option<String> {
    let folder = runtime().block_on(fixture.engine.folder(name)).unwrap();
    std::fs::read_to_string(fixture.engine.folder_path(&folder).join(path)).ok()
}

#[test]
fn docker_sessions_keep_the_session_rules() {
    let Some((_podman, fixture)) = engine_on_podman() else {
        return;
    };
    let rt = runtime();
    let environments = rt.block_on(fixture.engine.list_environments()).unwrap();
    assert!(
        environments.iter().any(|e| e.id == IMAGE),
        "{environments:?}"
    );
    for name in ["user2-vfolder", "reference"] {
        rt.block_on(fixture.engine.create_folder(NewFolder::named(name)))
            .unwrap();
    }
    let session = docker_session(
        &fixture,
        vec![
            MountRequest::folder("user2-vfolder"),
            MountRequest {
                folder: "reference".into(),
                alias: Some("/data/ref".into()),
                access: Some(MountAccess::ReadOnly),
            },
        ],
    );
    assert_eq!(session.status, SessionStatus::Running);
    assert_eq!(session.runtime, SessionRuntime::Docker);
    // What it uses, from the engine's stats API: a container holds some memory.
    let stats = rt
        .block_on(fixture.engine.session_stats(&session.id))
        .unwrap();
    assert!(stats.memory_bytes > 0, "{stats:?}");
    assert!(stats.cpu_percent >= 0.0, "{stats:?}");

    let out = sh(
        &fixture,
        &session.id,
        "echo 'file inside user2-vfolder' > user2-vfolder/test_file && echo scratch > outside && \
         ls /home/work && id -u && ( (echo x > /data/ref/x) 2>/dev/null || echo ro-refused) && \
         ls /sys/class/net",
    );
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let uid = if me == 0 { 65534 } else { me };
    assert_eq!(
        out.stdout_text(),
        format!("outside\nuser2-vfolder\n{uid}\nro-refused\nlo\n"),
        "no network but loopback, the session user, the ro mount refusing"
    );
    let failed = sh(&fixture, &session.id, "echo oops >&2; exit 5");
    assert_eq!((failed.code, failed.stderr_text().as_str()), (5, "oops\n"));

    // A terminal: keys in, echo out.
    let (_, client) = fixture.engine.session_client(&session.id).unwrap();
    let mut terminal = client.terminal(80, 24).unwrap();
    write_frame(&mut terminal, Frame::Input, b"echo $((6*7))\n").unwrap();
    let mut seen = Vec::new();
    let mut payload = Vec::new();
    terminal
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while !String::from_utf8_lossy(&seen).contains("42") {
        match read_frame(&mut terminal, &mut payload).unwrap() {
            Some(Frame::Output) => seen.extend_from_slice(&payload),
            Some(_) => {}
            None => panic!("terminal ended: {}", String::from_utf8_lossy(&seen)),
        }
    }
    drop(terminal);

    let ended = rt
        .block_on(fixture.engine.destroy_session(&session.id))
        .unwrap();
    assert_eq!(ended.status, SessionStatus::Terminated);
    assert_eq!(
        folder_file(&fixture, "user2-vfolder", "test_file").as_deref(),
        Some("file inside user2-vfolder\n")
    );
    assert!(fixture.engine.session_client(&session.id).is_err());
    let next = docker_session(&fixture, vec![]);
    assert_eq!(
        sh(&fixture, &next.id, "ls -A /home/work").stdout_text(),
        ".profile\n"
    );
    rt.block_on(fixture.engine.destroy_session(&next.id))
        .unwrap();
}

#[test]
fn a_docker_batch_session_ends_with_its_status_and_logs() {
    let Some((podman, fixture)) = engine_on_podman() else {
        return;
    };
    let rt = runtime();
    let mut spec = NewSession::interactive(IMAGE, vec![]);
    spec.runtime = Some(SessionRuntime::Docker);
    spec.session_type = SessionType::Batch;
    spec.command = Some("echo from batch; exit 3".into());
    let session = rt.block_on(fixture.engine.create_session(spec)).unwrap();
    let ended = (0..200)
        .find_map(|_| {
            let s = rt.block_on(fixture.engine.session(&session.id)).unwrap();
            (!s.status.is_live()).then_some(s).or_else(|| {
                std::thread::sleep(Duration::from_millis(50));
                None
            })
        })
        .unwrap_or_else(|| {
            let out = Command::new("curl")
                .args(["-s", "--unix-socket"])
                .arg(podman.socket())
                .arg(format!("http://d/containers/berth-{}/json", session.id))
                .output()
                .unwrap();
            panic!(
                "the batch container did not end: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
    assert_eq!(
        (ended.status, ended.exit_code),
        (SessionStatus::Terminated, Some(3))
    );
    let logs = rt
        .block_on(fixture.engine.session_logs(&session.id))
        .unwrap();
    assert!(logs.contains("from batch"), "{logs}");
    rt.block_on(fixture.engine.destroy_session(&session.id))
        .unwrap();
}

/// A container gets the session's variables at creation, so its startup command sees them, and
/// every exec and terminal into it gets them again (they are not inherited from the container).
#[test]
fn docker_sessions_get_the_variables_everywhere() {
    let Some((_podman, fixture)) = engine_on_podman() else {
        return;
    };
    let rt = runtime();
    let environ = vec![
        berth_core::EnvVar::new("GREETING", "hello world"),
        berth_core::EnvVar::new("SHELL", "/bin/sh"),
    ];
    let mut spec = NewSession::interactive(IMAGE, vec![]);
    spec.runtime = Some(SessionRuntime::Docker);
    spec.network = berth_core::NetworkMode::None;
    spec.session_type = SessionType::Batch;
    spec.command = Some(r#"echo "batch saw [$GREETING]""#.into());
    spec.environ = environ.clone();
    let batch = rt
        .block_on(fixture.engine.create_session(spec.clone()))
        .unwrap();
    let logs = (0..200)
        .find_map(|_| {
            let logs = rt.block_on(fixture.engine.session_logs(&batch.id)).unwrap();
            logs.contains("batch saw").then_some(logs).or_else(|| {
                std::thread::sleep(Duration::from_millis(50));
                None
            })
        })
        .expect("the batch command printed");
    assert!(logs.contains("batch saw [hello world]"), "{logs}");
    rt.block_on(fixture.engine.destroy_session(&batch.id))
        .unwrap();

    spec.session_type = SessionType::Interactive;
    spec.command = None;
    let session = rt.block_on(fixture.engine.create_session(spec)).unwrap();
    assert_eq!(session.environ, environ);
    let out = sh(
        &fixture,
        &session.id,
        r#"echo "[$GREETING] [$SHELL] [$HOME]""#,
    );
    assert_eq!(
        out.stdout_text(),
        "[hello world] [/bin/sh] [/home/work]\n",
        "{}",
        out.stderr_text()
    );
    let (_, client) = fixture.engine.session_client(&session.id).unwrap();
    let mut terminal = client.terminal(80, 24).unwrap();
    terminal
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write_frame(
        &mut terminal,
        Frame::Input,
        b"echo \"terminal saw [$GREETING] $((6*7))\"\n",
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut payload = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("42") {
        match read_frame(&mut terminal, &mut payload).unwrap() {
            Some(Frame::Output) => seen.extend_from_slice(&payload),
            Some(_) => {}
            None => panic!("terminal ended: {}", String::from_utf8_lossy(&seen)),
        }
    }
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains("terminal saw [hello world] 42"), "{seen}");
    drop(terminal);
    rt.block_on(fixture.engine.destroy_session(&session.id))
        .unwrap();
}

#[test]
fn the_runtime_and_the_environment_must_match() {
    let fixture = engine();
    let rt = runtime();
    let mut spec = NewSession::interactive("host", vec![]);
    spec.runtime = Some(SessionRuntime::Docker);
    let error = rt
        .block_on(fixture.engine.create_session(spec))
        .unwrap_err();
    assert!(
        error.message.contains("Docker runtime runs Docker images"),
        "{}",
        error.message
    );
    let spec = NewSession::interactive(IMAGE, vec![]);
    let error = rt
        .block_on(fixture.engine.create_session(spec))
        .unwrap_err();
    assert!(
        error.message.contains("--runtime docker"),
        "{}",
        error.message
    );
    let _ = Path::new("/");
}

#[test]
fn docker_sessions_get_the_dotfiles_and_run_the_bootstrap_script() {
    let Some((_podman, fixture)) = engine_on_podman() else {
        return;
    };
    let rt = runtime();
    rt.block_on(fixture.engine.set_dotfile(berth_core::Dotfile {
        path: ".config/tool/settings".into(),
        content: "color=on\n".into(),
        mode: 0o600,
    }))
    .unwrap();
    rt.block_on(
        fixture
            .engine
            .set_bootstrap_script(Some("echo bootstrap-ran-here\n".into())),
    )
    .unwrap();
    let session = docker_session(&fixture, vec![]);
    let out = sh(
        &fixture,
        &session.id,
        "cat .config/tool/settings; ls -A /home/work",
    );

    assert_eq!(
        out.stdout_text(),
        "color=on\n.config\n.profile\n",
        "{}",
        out.stderr_text()
    );
    let logs = (0..100)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(30));
            rt.block_on(fixture.engine.session_logs(&session.id))
                .unwrap()
        })
        .find(|logs| logs.contains("finished with status"))
        .expect("the bootstrap ran");
    assert!(logs.contains("bootstrap-ran-here"), "{logs}");
    assert!(logs.contains("finished with status 0"), "{logs}");
    rt.block_on(fixture.engine.destroy_session(&session.id))
        .unwrap();
}

/// As with bubblewrap: what Berth writes into a mounted folder while a Docker session runs
/// (upload, new directory, move) is writable by the container's user.
#[test]
fn what_berth_writes_into_a_mounted_folder_is_writable_by_the_running_container() {
    let Some((_podman, fixture)) = engine_on_podman() else {
        return;
    };
    let rt = runtime();
    rt.block_on(
        fixture
            .engine
            .create_folder(NewFolder::named("user2-vfolder")),
    )
    .unwrap();
    let session = docker_session(&fixture, vec![MountRequest::folder("user2-vfolder")]);
    crate::writes_while_running::assert_engine_writes_are_writable_inside(
        &fixture,
        "user2-vfolder",
        "/home/work/user2-vfolder",
        |script| sh(&fixture, &session.id, script),
    );
    rt.block_on(fixture.engine.destroy_session(&session.id))
        .unwrap();
}
