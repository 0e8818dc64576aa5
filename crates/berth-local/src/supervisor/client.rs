//! Talking to a session's supervisor from the app or the CLI.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::protocol::{Frame, Reply, Request, SOCKET_NAME, parse_exit, read_frame, write_frame};
use crate::sessions::docker::{self, ExecTarget};

/// A running session, reached through its supervisor's socket (bubblewrap) or through the
/// Docker API (the Docker runtime, bridged onto the same frames).
#[derive(Debug, Clone)]
pub struct SupervisorClient {
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Socket(PathBuf),
    Docker(ExecTarget),
}

impl SupervisorClient {
    pub fn new(runtime_dir: &Path) -> Self {
        Self {
            target: Target::Socket(runtime_dir.join(SOCKET_NAME)),
        }
    }

    /// A session of the Docker runtime.
    pub fn docker(target: ExecTarget) -> Self {
        Self {
            target: Target::Docker(target),
        }
    }

    /// Whether a supervisor answers: false once it has ended, or died.
    pub fn answers(&self) -> bool {
        match &self.target {
            Target::Socket(socket) => UnixStream::connect(socket).is_ok(),
            Target::Docker(target) => matches!(
                docker::run_apart(docker::state(&target.socket, &target.container)),
                Ok(docker::ContainerState::Running)
            ),
        }
    }

    fn request(&self, request: &Request) -> io::Result<(UnixStream, Reply)> {
        let socket = match &self.target {
            Target::Socket(socket) => socket,
            Target::Docker(target) => {
                return match request {
                    Request::Terminal { .. } | Request::Exec { .. } => {
                        Ok((docker::bridge(target, request.clone())?, Reply::ok(0)))
                    }
                    Request::Status => Ok((UnixStream::pair()?.0, Reply::ok(0))),
                    Request::Destroy => docker::run_apart(async {
                        let engine = docker::connect(&target.socket)
                            .map_err(|e| io::Error::other(e.message))?;
                        docker::remove(&engine, &target.container)
                            .await
                            .map_err(|e| io::Error::other(e.message))?;
                        Ok((UnixStream::pair()?.0, Reply::ok(0)))
                    }),
                };
            }
        };
        let mut stream = UnixStream::connect(socket)?;
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        stream.write_all(&line)?;
        // Byte by byte: the frames that follow must stay in the socket for the caller.
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            if stream.read(&mut byte)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the session's supervisor closed the connection",
                ));
            }
            if byte[0] == b'\n' {
                break;
            }
            answer.push(byte[0]);
        }
        let reply: Reply = serde_json::from_slice(&answer)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if !reply.ok {
            return Err(io::Error::other(
                reply
                    .error
                    .unwrap_or_else(|| "the supervisor refused".into()),
            ));
        }
        Ok((stream, reply))
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
    pub fn terminal(&self, cols: u16, rows: u16) -> io::Result<UnixStream> {
        self.request(&Request::Terminal { cols, rows })
            .map(|(stream, _)| stream)
    }

    /// Starts `argv` in the session without a PTY; the stream then carries frames.
    pub fn exec(&self, argv: Vec<String>) -> io::Result<UnixStream> {
        self.request(&Request::Exec { argv })
            .map(|(stream, _)| stream)
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
pub fn finish_exec(mut stream: UnixStream, stdin: &[u8]) -> io::Result<ExecOutput> {
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
