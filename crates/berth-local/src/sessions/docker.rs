//! The Docker-API runtime (Docker Desktop, Podman, Colima, Rancher Desktop; bollard): the same
//! session semantics as bubblewrap — scratch tmpfs `/home/work`, folders bound at their planned
//! targets (read-only where asked), the session user's uid, no network unless asked, no
//! capabilities — for macOS and Windows users, and on Linux by choice. The engine keeps the
//! container alive between app runs, so no supervisor is needed; terminals and execs are
//! bridged onto the same frame protocol the supervisor speaks, so the app and the CLI use one
//! client for both runtimes.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use berth_core::frames::FrameStream;
use berth_core::{Error, NetworkMode, PlannedMount, Result, Session};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptions, ListImagesOptions, LogsOptions, RemoveContainerOptions,
    ResizeExecOptions,
};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::docker_host::DockerHost;
use crate::supervisor::protocol::{Frame, Request, exit_payload};

mod relay;
pub use relay::connect_port;

/// Environment ids of Docker images carry this prefix: `docker:debian:bookworm`.
pub const IMAGE_PREFIX: &str = "docker:";

const TIMEOUT: Duration = Duration::from_secs(30);

/// bollard's futures are large in debug builds; the default 2 MiB thread stack overflowed.
const STACK: usize = 8 << 20;

/// Runs `future` on a runtime of its own in a thread of its own: the callers are synchronous
/// code that may itself be running inside the app's async runtime, where blocking on another
/// runtime is not allowed.
pub fn run_apart<F, T>(future: F) -> T
where
    F: Future<Output = T> + Send,
    T: Send,
{
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn_scoped(scope, || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(Box::pin(future)))
            })
            .map(|thread| thread.join())
    })
    .unwrap_or_else(|e| panic!("cannot start a Docker runtime thread: {e}"))
    .unwrap_or_else(|_| panic!("the Docker runtime thread panicked"))
    .unwrap_or_else(|e| panic!("cannot start a Docker runtime: {e}"))
}

fn docker_error(what: &str, e: bollard::errors::Error) -> Error {
    Error::engine_unavailable(format!("{what}: {e}"))
}

/// The container of a session.
pub fn container_name(session_id: &str) -> String {
    format!("berth-{session_id}")
}

/// A connection to the Docker-API engine at `host`.
pub fn connect(host: &DockerHost) -> Result<Docker> {
    let connected = match host {
        DockerHost::Unix(path) => Docker::connect_with_socket(
            &path.to_string_lossy(),
            TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        ),
        DockerHost::Pipe(pipe) => {
            Docker::connect_with_socket(pipe, TIMEOUT.as_secs(), bollard::API_DEFAULT_VERSION)
        }
        DockerHost::Tcp(address) => Docker::connect_with_http(
            &format!("http://{address}"),
            TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        ),
    };
    connected.map_err(|e| docker_error(&format!("Cannot reach the Docker API at {host}"), e))
}

/// The engine's images, as environment ids and names (`docker:REPO:TAG`).
pub async fn images(docker: &Docker) -> Result<Vec<String>> {
    let listed = tokio::time::timeout(
        Duration::from_secs(3),
        docker.list_images(Some(ListImagesOptions::default())),
    )
    .await
    .map_err(|_| Error::engine_unavailable("The Docker API did not answer within 3 s."))?
    .map_err(|e| docker_error("Cannot list the Docker images", e))?;
    let mut tags: Vec<String> = listed
        .into_iter()
        .flat_map(|image| image.repo_tags)
        .filter(|tag| tag != "<none>:<none>")
        .collect();
    tags.sort();
    Ok(tags)
}

/// What a session's container needs, decided by the engine.
pub struct ContainerSpec<'a> {
    pub session: &'a Session,
    pub image: &'a str,
    /// Each planned mount with its folder's directory on this computer.
    pub mounts: Vec<(&'a PlannedMount, PathBuf)>,
    pub env: &'a [(String, String)],
    /// `uid:gid` the container runs as; `None` leaves the image's user (Docker Desktop maps
    /// file ownership itself).
    pub user: Option<String>,
    pub command: Vec<String>,
    pub scratch_bytes: u64,
    /// Dotfiles and the bootstrap script, copied in before the command runs.
    pub files: super::UserFiles,
}

/// Where the container keeps the user's files until its start copies them into the scratch
/// home (a tmpfs mounted at start, so nothing can be put there before).
const STAGING: &str = "/.berth";

/// The container's command: dotfiles into /home/work, the bootstrap once, then the command.
const WRAPPER: &str = "if [ -d /.berth/home ]; then cp -R /.berth/home/. /home/work/; fi; \
    : > /tmp/.berth-started; \
    if [ -f /.berth/bootstrap.sh ]; then \
    if command -v bash >/dev/null 2>&1; then bash -l /.berth/bootstrap.sh; \
    else sh /.berth/bootstrap.sh; fi; \
    echo \"[berth] bootstrap script finished with status $?\"; fi; exec \"$@\"";

/// The staging directory as a tar the Docker API unpacks into the container, owned by the
/// session user (`uid:gid`) so a 0600 dotfile stays readable to them.
fn staging_archive(files: &super::UserFiles, user: Option<&str>) -> io::Result<Vec<u8>> {
    let (uid, gid) = user
        .and_then(|u| u.split_once(':'))
        .and_then(|(u, g)| Some((u.parse::<u64>().ok()?, g.parse::<u64>().ok()?)))
        .unwrap_or((0, 0));
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: String, content: &[u8], mode: u32| -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, content)
    };
    for dotfile in &files.dotfiles {
        add(
            format!("{}/home/{}", &STAGING[1..], dotfile.path),
            dotfile.content.as_bytes(),
            dotfile.mode,
        )?;
    }
    if let Some(script) = &files.bootstrap {
        add(
            format!("{}/bootstrap.sh", &STAGING[1..]),
            script.as_bytes(),
            0o755,
        )?;
    }
    tar.into_inner()
}

/// Creates and starts the session's container.
pub async fn start(docker: &Docker, engine: &DockerHost, spec: ContainerSpec<'_>) -> Result<()> {
    let session = spec.session;
    // Structured mounts, never `SOURCE:TARGET:MODE` strings: a Windows source (`C:\...`) has a
    // colon of its own, and Docker Desktop and Podman machine translate it only here.
    let mounts = spec
        .mounts
        .iter()
        .map(|(mount, source)| Mount {
            typ: Some(MountType::BIND),
            source: Some(source.to_string_lossy().into_owned()),
            target: Some(mount.target.clone()),
            read_only: Some(mount.read_only),
            ..Default::default()
        })
        .collect();
    // mode=1777: Podman and older Docker reject uid= on tmpfs, so the scratch home is made
    // writable for the session user this way.
    let tmpfs = HashMap::from([
        (
            "/home/work".to_owned(),
            format!("size={},mode=1777", spec.scratch_bytes),
        ),
        (
            "/tmp".to_owned(),
            format!("size={},mode=1777", spec.scratch_bytes),
        ),
    ]);
    let host = HostConfig {
        mounts: Some(mounts),
        tmpfs: Some(tmpfs),
        network_mode: Some(
            match session.network {
                NetworkMode::Host => "host",
                NetworkMode::None => "none",
                // The engine's default bridge network: outbound, with the host's loopback
                // behind the bridge's NAT, not shared.
                NetworkMode::Outbound => "bridge",
            }
            .to_owned(),
        ),
        cap_drop: Some(vec!["ALL".to_owned()]),
        security_opt: Some(vec!["no-new-privileges".to_owned()]),
        memory: session.resources.memory_bytes.map(|b| b as i64),
        nano_cpus: session.resources.cpus.map(|n| i64::from(n) * 1_000_000_000),
        ..Default::default()
    };
    let mut command = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        WRAPPER.to_owned(),
        "sh".to_owned(),
    ];
    command.extend(spec.command);
    let body = ContainerCreateBody {
        image: Some(spec.image.to_owned()),
        cmd: Some(command),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: spec.user.clone(),
        working_dir: Some("/home/work".to_owned()),
        hostname: Some(session.name.clone()),
        labels: Some(HashMap::from([(
            "berth.session".to_owned(),
            session.id.clone(),
        )])),
        host_config: Some(host),
        ..Default::default()
    };
    let name = container_name(&session.id);
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| {
            Error::internal(format!(
                "The Docker API refused the session's container: {e}"
            ))
        })?;
    for line in &spec.files.skipped {
        tracing::info!(session = %session.id, "{line}");
    }
    let staged = staging_archive(&spec.files, spec.user.as_deref())
        .map_err(|e| Error::internal(format!("Cannot pack the session's dotfiles: {e}")))?;
    let upload = docker
        .upload_to_container(
            &name,
            Some(bollard::query_parameters::UploadToContainerOptions {
                path: "/".to_owned(),
                ..Default::default()
            }),
            bollard::body_full(staged.into()),
        )
        .await;
    if let Err(e) = upload {
        let _ = remove(docker, &name).await;
        return Err(Error::internal(format!(
            "Cannot copy the dotfiles into the session's container: {e}"
        )));
    }
    if let Err(e) = docker.start_container(&name, None).await {
        let _ = remove(docker, &name).await;
        return Err(Error::internal(format!(
            "The session's container did not start: {e}"
        )));
    }
    // The session is ready once the dotfiles are in its home; a terminal opened before would
    // find none.
    let waited = run_to_end(
        docker,
        &name,
        vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            "i=0; while [ ! -e /tmp/.berth-started ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done".to_owned(),
        ],
    )
    .await;
    // A batch command may already be done: then there is nothing left to wait for.
    let still_running = matches!(state(engine, &name).await, Ok(ContainerState::Running));
    if let (Err(e), true) = (waited, still_running) {
        let _ = remove(docker, &name).await;
        return Err(Error::internal(format!(
            "The session's container did not come up: {e}"
        )));
    }
    Ok(())
}

/// Runs `argv` in the container and waits for it to end, discarding its output.
async fn run_to_end(docker: &Docker, container: &str, argv: Vec<String>) -> io::Result<()> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(argv),
                ..Default::default()
            },
        )
        .await
        .map_err(io::Error::other)?;
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&exec.id, None)
        .await
        .map_err(io::Error::other)?
    {
        while output.next().await.is_some() {}
    }
    Ok(())
}

/// The whole answer (head and body) to `GET path` on the Docker API (a Unix socket, a Windows
/// named pipe such as `//./pipe/docker_engine`, or a loopback TCP port).
async fn raw_get(engine: &DockerHost, path: &str) -> io::Result<Vec<u8>> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n");
    match engine {
        DockerHost::Tcp(address) => {
            exchange(tokio::net::TcpStream::connect(address).await?, &request).await
        }
        #[cfg(unix)]
        DockerHost::Unix(path) => {
            exchange(tokio::net::UnixStream::connect(path).await?, &request).await
        }
        #[cfg(windows)]
        DockerHost::Pipe(pipe) => {
            let stream = tokio::net::windows::named_pipe::ClientOptions::new().open(pipe)?;
            exchange(stream, &request).await
        }
        #[allow(unreachable_patterns)]
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{other} cannot be reached from this system"),
        )),
    }
}

async fn exchange(
    mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    request: &str,
) -> io::Result<Vec<u8>> {
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(response)
}

/// What the container uses: two one-shot readings of the stats API, `interval` apart (CPU is
/// their difference), read loosely like `state`, since Podman's answer differs from Docker's
/// schema in places.
/// One reading of what container `name` has used (see `usage::Reading`).
pub async fn usage_reading(engine: &DockerHost, name: &str) -> Result<super::usage::Reading> {
    let unreachable = |e: io::Error| {
        Error::engine_unavailable(format!("Cannot ask the Docker API about the session: {e}"))
    };
    let response = tokio::time::timeout(
        TIMEOUT,
        raw_get(
            engine,
            &format!("/containers/{name}/stats?stream=false&one-shot=true"),
        ),
    )
    .await
    .map_err(|_| unreachable(io::ErrorKind::TimedOut.into()))?
    .map_err(unreachable)?;
    let at = std::time::Instant::now();
    let text = String::from_utf8_lossy(&response);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let stats: serde_json::Value = serde_json::from_str(body.trim()).map_err(|_| {
        Error::internal(format!(
            "The Docker API gave no usage for the session: {}",
            body.chars().take(200).collect::<String>()
        ))
    })?;
    let io = |op: &str| -> u64 {
        stats["blkio_stats"]["io_service_bytes_recursive"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["op"].as_str().is_some_and(|o| o.eq_ignore_ascii_case(op)))
            .filter_map(|e| e["value"].as_u64())
            .sum()
    };
    Ok(super::usage::Reading {
        cpu_seconds: stats["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap_or(0) as f64
            / 1e9,
        memory_bytes: stats["memory_stats"]["usage"].as_u64().unwrap_or(0),
        read_bytes: io("read"),
        write_bytes: io("write"),
        at,
    })
}

/// How a container is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running,
    Exited(i32),
    Missing,
}

/// How the container is doing. Asked over plain HTTP and read loosely: Podman reports states
/// Docker's schema does not know ("stopped"), which bollard's typed inspect refuses to parse.
pub async fn state(engine: &DockerHost, name: &str) -> Result<ContainerState> {
    let unreachable = |e: io::Error| {
        Error::engine_unavailable(format!("Cannot ask the Docker API about the session: {e}"))
    };
    let response = tokio::time::timeout(
        TIMEOUT,
        raw_get(engine, &format!("/containers/{name}/json")),
    )
    .await
    .map_err(|_| unreachable(io::ErrorKind::TimedOut.into()))?
    .map_err(unreachable)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if head.split_whitespace().nth(1) == Some("404") {
        return Ok(ContainerState::Missing);
    }
    let info: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        Error::engine_unavailable(format!("The Docker API answered something unexpected: {e}"))
    })?;
    if info["State"]["Running"].as_bool().unwrap_or(false) {
        Ok(ContainerState::Running)
    } else {
        Ok(ContainerState::Exited(
            info["State"]["ExitCode"].as_i64().unwrap_or(-1) as i32,
        ))
    }
}

pub async fn remove(docker: &Docker, name: &str) -> Result<()> {
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(docker_error("Cannot remove the session's container", e)),
    }
}

pub async fn logs(docker: &Docker, name: &str) -> Result<String> {
    let mut stream = docker.logs(
        name,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: "10000".to_owned(),
            ..Default::default()
        }),
    );
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(output) => text.extend_from_slice(&output.into_bytes()),
            Err(e) => return Err(docker_error("Cannot read the session's logs", e)),
        }
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// What an exec or terminal in a container runs as and with.
#[derive(Debug, Clone)]
pub struct ExecTarget {
    pub engine: DockerHost,
    pub container: String,
    pub user: Option<String>,
    pub env: Vec<(String, String)>,
    pub shell: Vec<String>,
}

/// Starts a terminal or an exec in the container and returns our end of a frame stream that
/// speaks the supervisor's frame protocol (after the reply line, which is not sent: the caller
/// gets the stream only once the exec has started).
pub fn bridge(target: &ExecTarget, request: Request) -> io::Result<FrameStream> {
    let (ours, theirs) = berth_core::frames::pair()?;
    let target = target.clone();
    start_apart("the command", move |started| async move {
        pump(target, request, theirs, &started).await
    })?;
    Ok(ours)
}

/// Runs the future `work` makes on a runtime of its own in a thread of its own (it carries a
/// stream for as long as it lasts), and returns once it says through its sender that it has
/// started — or why not, or that the Docker API did not start `what` in time.
fn start_apart<W, F>(what: &str, work: W) -> io::Result<()>
where
    W: FnOnce(std::sync::mpsc::Sender<io::Result<()>>) -> F + Send + 'static,
    F: Future<Output = io::Result<()>>,
{
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
            };
            let failed = started_tx.clone();
            runtime.block_on(Box::pin(async move {
                if let Err(e) = Box::pin(work(started_tx)).await {
                    let _ = failed.send(Err(e));
                }
            }));
        })?;
    started_rx
        .recv_timeout(TIMEOUT)
        .map_err(|_| io::Error::other(format!("the Docker API did not start {what}")))?
}

async fn pump(
    target: ExecTarget,
    request: Request,
    client: std::net::TcpStream,
    started: &std::sync::mpsc::Sender<io::Result<()>>,
) -> io::Result<()> {
    let docker = connect(&target.engine).map_err(|e| io::Error::other(e.message))?;
    let (argv, tty, size) = match request {
        Request::Terminal { cols, rows } => (target.shell.clone(), true, Some((cols, rows))),
        Request::Exec { argv } => (argv, false, None),
        _ => return Err(io::Error::other("only terminals and execs are bridged")),
    };
    let env: Vec<String> = target.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let exec = docker
        .create_exec(
            &target.container,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(tty),
                env: Some(env),
                cmd: Some(argv),
                user: target.user.clone(),
                working_dir: Some("/home/work".to_owned()),
                ..Default::default()
            },
        )
        .await
        .map_err(io::Error::other)?;
    let started_exec = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                tty,
                ..Default::default()
            }),
        )
        .await
        .map_err(io::Error::other)?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started_exec
    else {
        return Err(io::Error::other("the exec started detached"));
    };
    if let Some((cols, rows)) = size {
        let _ = docker
            .resize_exec(
                &exec.id,
                ResizeExecOptions {
                    w: i32::from(cols),
                    h: i32::from(rows),
                },
            )
            .await;
    }
    let _ = started.send(Ok(()));

    client.set_nonblocking(true)?;
    let client = tokio::net::TcpStream::from_std(client)?;
    let (mut from_client, mut to_client) = client.into_split();
    let exec_id = exec.id.clone();
    let resizer = docker.clone();
    let keys = async {
        let mut header = [0u8; 5];
        let mut payload = Vec::new();
        loop {
            if from_client.read_exact(&mut header).await.is_err() {
                return;
            }
            let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
            if len > crate::supervisor::protocol::MAX_FRAME {
                return;
            }
            payload.resize(len, 0);
            if from_client.read_exact(&mut payload).await.is_err() {
                return;
            }
            let kind = header[0];
            if kind == Frame::Input as u8 {
                if input.write_all(&payload).await.is_err() {
                    return;
                }
            } else if kind == Frame::InputEnd as u8 {
                let _ = input.shutdown().await;
            } else if kind == Frame::Resize as u8 && payload.len() == 4 {
                let cols = u16::from_le_bytes([payload[0], payload[1]]);
                let rows = u16::from_le_bytes([payload[2], payload[3]]);
                let size = ResizeExecOptions {
                    w: i32::from(cols),
                    h: i32::from(rows),
                };
                let _ = resizer.resize_exec(&exec_id, size).await;
            }
        }
    };
    let screen = async {
        while let Some(chunk) = output.next().await {
            let (kind, bytes) = match chunk {
                Ok(LogOutput::StdErr { message }) => (Frame::Stderr, message),
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    (Frame::Output, message)
                }
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(_) => break,
            };
            let mut frame = Vec::with_capacity(bytes.len() + 5);
            frame.push(kind as u8);
            frame.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            frame.extend_from_slice(&bytes);
            if to_client.write_all(&frame).await.is_err() {
                return None;
            }
        }
        let code = docker
            .inspect_exec(&exec.id)
            .await
            .ok()
            .and_then(|i| i.exit_code)
            .unwrap_or(-1) as i32;
        Some((to_client, code))
    };
    // Output ending (the command exited) ends the bridge; the client leaving ends it too.
    let finished = tokio::select! {
        finished = screen => finished,
        () = keys => None,
    };
    if let Some((mut to_client, code)) = finished {
        let mut frame = vec![Frame::Exit as u8];
        frame.extend_from_slice(&4u32.to_le_bytes());
        frame.extend_from_slice(&exit_payload(code));
        let _ = to_client.write_all(&frame).await;
        // A close with keys still unread sends a reset, and Windows then drops what the client
        // has not read yet, the exit status included. So: end our side, then read until the
        // client closes its own (it does once it has the exit status), for a moment at most.
        let _ = to_client.shutdown().await;
        let drain = async {
            let mut discard = [0u8; 4096];
            while matches!(from_client.read(&mut discard).await, Ok(n) if n > 0) {}
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }
    Ok(())
}
