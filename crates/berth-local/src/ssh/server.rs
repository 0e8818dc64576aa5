//! One SSH connection to a session, served in this process (russh) and carried out inside the
//! sandbox by its supervisor: a shell gets a terminal, a command an exec (stdin, stdout,
//! stderr and exit status), the `sftp` subsystem the environment's own `sftp-server`, and a
//! `direct-tcpip` channel (`ssh -L`, VS Code's server) a connection to a port inside the
//! session. Nothing runs in the sandbox that the user's own terminal could not run, and no SSH
//! server has to be in the environment.

use std::sync::Arc;
use std::sync::mpsc;

use berth_core::frames::{Frame, FrameStream, parse_exit, read_frame, resize_payload, write_frame};
use russh::server::{
    Auth, ChannelOpenHandle, Handle, Handler, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, ChannelMsg};

use super::keys::SshKeys;
use crate::supervisor::client::SupervisorClient;

/// Where environments keep OpenSSH's SFTP server (Debian/Ubuntu, Fedora/RHEL, Alpine, Arch).
const SFTP_SERVER: &str = "for s in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server \
     /usr/lib/ssh/sftp-server /usr/libexec/sftp-server; do [ -x \"$s\" ] && exec \"$s\"; done; \
     echo 'This environment has no sftp-server (OpenSSH'\"'\"'s openssh-sftp-server package): SFTP needs it.' >&2; exit 127";

/// The largest frame of input sent at once (the supervisor refuses bigger ones).
const INPUT_CHUNK: usize = 256 * 1024;

/// A connection's handler: who may log in, and the session it leads into.
pub struct SessionSsh {
    pub keys: Arc<SshKeys>,
    pub client: SupervisorClient,
}

impl Handler for SessionSsh {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.keys.lets_in(offer.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        // Any user name: the session has one user, and the name changes nothing it may do.
        Ok(if self.keys.lets_in(key.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        tokio::spawn(session_channel(
            channel,
            session.handle(),
            self.client.clone(),
        ));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Only the session's own loopback: it is what a forward reaches, for sessions with a
        // network and without one alike.
        let local = matches!(host_to_connect, "127.0.0.1" | "localhost" | "::1" | "[::1]");
        let Ok(port) = u16::try_from(port_to_connect) else {
            return Ok(());
        };
        if !local {
            tracing::info!(
                host = host_to_connect,
                port,
                "SSH forward to another host refused"
            );
            return Ok(());
        }
        let client = self.client.clone();
        let connected = tokio::task::spawn_blocking(move || client.connect_port(port)).await;
        let server = match connected {
            Ok(Ok(server)) => server,
            _ => return Ok(()),
        };
        let Ok(mut server) = server
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpStream::from_std(server))
        else {
            return Ok(());
        };
        reply.accept().await;
        tokio::spawn(async move {
            let mut stream = channel.into_stream();
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut server).await;
        });
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The session's variables are the launcher's; a client's LANG is not taken.
        session.channel_failure(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name == "sftp" {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }
}

/// What a session channel runs, once the client has said.
enum Run {
    Shell { cols: u16, rows: u16 },
    Command(String),
}

/// A session channel, from its requests to its end: the run it asks for is started through the
/// supervisor, input goes to it, and its output, exit status and end come back.
async fn session_channel(mut channel: Channel<Msg>, handle: Handle, client: SupervisorClient) {
    let id = channel.id();
    // Typing over SSH is using the session, as typing in its terminal tab is (idle timeouts).
    let typing = client.input_mark().map(crate::vitals::InputMark::new);
    let mut size = (80u16, 24u16);
    let mut input: Option<mpsc::Sender<(Frame, Vec<u8>)>> = None;
    while let Some(message) = channel.wait().await {
        let run = match message {
            ChannelMsg::RequestPty {
                col_width,
                row_height,
                ..
            } => {
                size = (clamp(col_width), clamp(row_height));
                None
            }
            ChannelMsg::RequestShell { .. } => Some(Run::Shell {
                cols: size.0,
                rows: size.1,
            }),
            ChannelMsg::Exec { command, .. } => {
                Some(Run::Command(String::from_utf8_lossy(&command).into_owned()))
            }
            ChannelMsg::RequestSubsystem { name, .. } if name == "sftp" => {
                Some(Run::Command(SFTP_SERVER.to_owned()))
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            } => {
                if let Some(input) = &input {
                    let _ = input.send((
                        Frame::Resize,
                        resize_payload(clamp(col_width), clamp(row_height)).to_vec(),
                    ));
                }
                None
            }
            ChannelMsg::Data { data } => {
                if let Some(mark) = &typing {
                    mark.touch();
                }
                if let Some(input) = &input {
                    for chunk in data.chunks(INPUT_CHUNK) {
                        let _ = input.send((Frame::Input, chunk.to_vec()));
                    }
                }
                None
            }
            ChannelMsg::Eof => {
                if let Some(input) = &input {
                    let _ = input.send((Frame::InputEnd, Vec::new()));
                }
                None
            }
            ChannelMsg::Close => break,
            _ => None,
        };
        if let Some(run) = run
            && input.is_none()
        {
            input = start(run, &client, id, handle.clone()).await;
        }
    }
}

fn clamp(cells: u32) -> u16 {
    u16::try_from(cells).unwrap_or(u16::MAX).max(1)
}

/// Starts `run` in the session and the two threads that carry its frames; the sender feeds
/// its input. When it cannot start, the client reads why on stderr and the channel ends.
async fn start(
    run: Run,
    client: &SupervisorClient,
    id: ChannelId,
    handle: Handle,
) -> Option<mpsc::Sender<(Frame, Vec<u8>)>> {
    let client = client.clone();
    let opened = tokio::task::spawn_blocking(move || match run {
        Run::Shell { cols, rows } => client.terminal(cols, rows),
        Run::Command(command) => client.exec(vec!["sh".into(), "-c".into(), command]),
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let stream = match opened {
        Ok(stream) => stream,
        Err(error) => {
            let said = format!("Berth: cannot start it in the session: {error}\r\n");
            let _ = handle.extended_data(id, 1, said.into_bytes()).await;
            let _ = handle.exit_status_request(id, 1).await;
            let _ = handle.eof(id).await;
            let _ = handle.close(id).await;
            return None;
        }
    };
    let (sender, receiver) = mpsc::channel::<(Frame, Vec<u8>)>();
    let writer = stream.try_clone().ok()?;
    std::thread::spawn(move || feed(writer, receiver));
    let runtime = tokio::runtime::Handle::current();
    std::thread::spawn(move || drain(stream, id, handle, runtime));
    Some(sender)
}

/// Input to the session, in order, until the channel ends; then the stream's write side
/// closes, which ends a shell whose client left.
fn feed(mut stream: FrameStream, receiver: mpsc::Receiver<(Frame, Vec<u8>)>) {
    while let Ok((kind, payload)) = receiver.recv() {
        if write_frame(&mut stream, kind, &payload).is_err() {
            return;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Output from the session to the client until it ends: stdout, stderr (extended data 1),
/// then the exit status, end of data and close.
fn drain(mut stream: FrameStream, id: ChannelId, handle: Handle, runtime: tokio::runtime::Handle) {
    let mut payload = Vec::new();
    let mut status = None;
    loop {
        match read_frame(&mut stream, &mut payload) {
            Ok(Some(Frame::Output)) => {
                if runtime.block_on(handle.data(id, payload.clone())).is_err() {
                    break;
                }
            }
            Ok(Some(Frame::Stderr)) => {
                if runtime
                    .block_on(handle.extended_data(id, 1, payload.clone()))
                    .is_err()
                {
                    break;
                }
            }
            Ok(Some(Frame::Exit)) => {
                status = Some(parse_exit(&payload));
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    runtime.block_on(async {
        if let Some(code) = status {
            let _ = handle
                .exit_status_request(id, u32::try_from(code).unwrap_or(255))
                .await;
        }
        let _ = handle.eof(id).await;
        let _ = handle.close(id).await;
    });
}
