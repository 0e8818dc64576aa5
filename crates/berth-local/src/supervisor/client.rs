//! Talking to a session's supervisor from the app or the CLI.

use std::io;
use std::path::{Path, PathBuf};

use berth_core::frames::FrameStream;

#[cfg(target_os = "linux")]
use super::protocol::SOCKET_NAME;
use super::protocol::{Frame, Reply, Request, parse_exit, read_frame, write_frame};
#[cfg(target_os = "linux")]
use super::socket_request;
use crate::sessions::docker::{self, ExecTarget};

/// A running session, reached through its supervisor's socket (bubblewrap, Linux only) or
/// through the Docker API (the Docker runtime, bridged onto the same frames).
#[derive(Debug, Clone)]
pub struct SupervisorClient {
    target: Target,
    /// Touched when keys are typed or a command is run, for idle timeouts (see
    /// `LocalEngine::input_mark`); `None` when nobody keeps count.
    input_mark: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum Target {
    #[cfg(target_os = "linux")]
    Socket(PathBuf),
    Docker(ExecTarget),
}

impl SupervisorClient {
    #[cfg(target_os = "linux")]
    pub fn new(runtime_dir: &Path) -> Self {
        Self {
            target: Target::Socket(runtime_dir.join(SOCKET_NAME)),
            input_mark: None,
        }
    }

    /// A session of the Docker runtime.
    pub fn docker(target: ExecTarget) -> Self {
        Self {
            target: Target::Docker(target),
            input_mark: None,
        }
    }

    /// The same client, marking `mark` when someone types or runs a command.
    pub fn marking_input(self, mark: PathBuf) -> Self {
        Self {
            input_mark: Some(mark),
            ..self
        }
    }

    /// The same client, marking nothing: for what Berth runs in a session itself (looking
    /// for apps, checking one is up), which must not keep an idle session alive.
    pub fn unmarked(&self) -> Self {
        Self {
            input_mark: None,
            ..self.clone()
        }
    }

    pub fn input_mark(&self) -> Option<&Path> {
        self.input_mark.as_deref()
    }

    /// Whether a supervisor answers: false once it has ended, or died.
    pub fn answers(&self) -> bool {
        match &self.target {
            #[cfg(target_os = "linux")]
            Target::Socket(socket) => socket_request::answers(socket),
            Target::Docker(target) => matches!(
                docker::run_apart(docker::state(&target.engine, &target.container)),
                Ok(docker::ContainerState::Running)
            ),
        }
    }

    fn request(&self, request: &Request) -> io::Result<(Option<FrameStream>, Reply)> {
        match &self.target {
            #[cfg(target_os = "linux")]
            Target::Socket(socket) => socket_request::send(socket, request)
                .map(|(stream, reply)| (Some(FrameStream::from(stream)), reply)),
            Target::Docker(target) => match request {
                Request::Terminal { .. } | Request::Exec { .. } => {
                    Ok((Some(docker::bridge(target, request.clone())?), Reply::ok(0)))
                }
                Request::Status => Ok((None, Reply::ok(0))),
                Request::Connect { .. } => Err(io::Error::other(
                    "a Docker session's ports are reached with connect_port, not a request",
                )),
                Request::Destroy => docker::run_apart(async {
                    let engine =
                        docker::connect(&target.engine).map_err(|e| io::Error::other(e.message))?;
                    docker::remove(&engine, &target.container)
                        .await
                        .map_err(|e| io::Error::other(e.message))?;
                    Ok((None, Reply::ok(0)))
                }),
            },
        }
    }

    /// The sandbox's PID (in the host's view), when the supervisor answers.
    pub fn status(&self) -> io::Result<u32> {
        let (_, reply) = self.request(&Request::Status)?;
        reply
            .sandbox_pid
            .ok_or_else(|| io::Error::other("no sandbox pid in the answer"))
    }

    /// Kills the sandbox and returns once it is gone.
    pub fn destroy(&self) -> io::Result<()> {
        self.request(&Request::Destroy).map(|_| ())
    }

    /// A login shell on a new PTY; the stream then carries frames (see the protocol).
    pub fn terminal(&self, cols: u16, rows: u16) -> io::Result<FrameStream> {
        self.stream(&Request::Terminal { cols, rows })
    }

    /// Starts `argv` in the session without a PTY; the stream then carries frames.
    pub fn exec(&self, argv: Vec<String>) -> io::Result<FrameStream> {
        if let Some(mark) = &self.input_mark {
            crate::vitals::mark_input(mark);
        }
        self.stream(&Request::Exec { argv })
    }

    /// A TCP connection to `127.0.0.1:port` inside the session, made there and handed to this
    /// process (see `supervisor::relay`; a Docker session's through an exec, see
    /// `sessions::docker::relay`). `ConnectionRefused` when nothing listens there.
    pub fn connect_port(&self, port: u16) -> io::Result<std::net::TcpStream> {
        match &self.target {
            #[cfg(target_os = "linux")]
            Target::Socket(socket) => {
                use std::os::fd::FromRawFd;
                use std::os::fd::IntoRawFd;
                let (stream, reply) = socket_request::send(socket, &Request::Connect { port })?;
                if !reply.ok {
                    return Err(io::Error::other(reply.error.unwrap_or_default()));
                }
                let (line, fd) = super::fd_passing::receive_line(&stream)?;
                match (String::from_utf8_lossy(&line).trim_end(), fd) {
                    ("ok", Some(fd)) => {
                        // SAFETY: the relay handed over a connected TCP socket, now ours alone.
                        Ok(unsafe { std::net::TcpStream::from_raw_fd(fd.into_raw_fd()) })
                    }
                    ("", None) => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the session closed the connection before it was made",
                    )),
                    (said, _) => {
                        let why = said.strip_prefix("error ").unwrap_or(said).to_owned();
                        let kind = if why.starts_with("nothing listens") {
                            io::ErrorKind::ConnectionRefused
                        } else {
                            io::ErrorKind::Other
                        };
                        Err(io::Error::new(kind, why))
                    }
                }
            }
            Target::Docker(target) => docker::connect_port(target, port),
        }
    }

    fn stream(&self, request: &Request) -> io::Result<FrameStream> {
        match self.request(request)? {
            (Some(stream), _) => Ok(stream),
            (None, _) => Err(io::Error::other("the session answered without a stream")),
        }
    }
}

/// What a finished exec printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

impl ExecOutput {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Feeds `stdin` to an exec stream, then collects its output until it ends.
pub fn finish_exec(mut stream: FrameStream, stdin: &[u8]) -> io::Result<ExecOutput> {
    if !stdin.is_empty() {
        write_frame(&mut stream, Frame::Input, stdin)?;
    }
    write_frame(&mut stream, Frame::InputEnd, &[])?;
    let mut output = ExecOutput {
        stdout: Vec::new(),
        stderr: Vec::new(),
        code: -1,
    };
    let mut payload = Vec::new();
    while let Some(frame) = read_frame(&mut stream, &mut payload)? {
        match frame {
            Frame::Output => output.stdout.extend_from_slice(&payload),
            Frame::Stderr => output.stderr.extend_from_slice(&payload),
            Frame::Exit => {
                output.code = parse_exit(&payload);
                return Ok(output);
            }
            _ => {}
        }
    }
    Err(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the session ended before the command did",
    ))
}
