//! A connection to a port of a Docker session: Docker has no way to publish a port of a running
//! container, and a container's address is not reachable from the host on Docker Desktop, so
//! each connection is an exec of a small relay inside the container (in its network, whatever
//! its network mode) that connects to `127.0.0.1:PORT` there and carries the bytes over the
//! exec's stdin and stdout. The relay is whichever of Python, Perl or Bash the image has; it
//! says `berth-relay: ok` on stderr once connected, or `berth-relay: error WHY` (other lines
//! there, such as a locale warning, are not its word).

use std::io;
use std::net::TcpStream;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ExecTarget, connect, start_apart};

/// How the relay's own lines on stderr begin.
const WORD: &str = "berth-relay: ";

/// Picks the relay program: `$1` is the port, `$2`… the relays' own code.
const CHOOSE: &str = r#"port="$1"
if command -v python3 >/dev/null 2>&1; then exec python3 -c "$2" "$port"; fi
if command -v perl >/dev/null 2>&1; then exec perl -e "$3" "$port"; fi
if command -v bash >/dev/null 2>&1; then exec bash -c "$4" berth-relay "$port"; fi
echo "berth-relay: error the session's image has none of python3, perl or bash to reach its ports with" >&2
exit 127"#;

const PYTHON: &str = r#"import os, socket, sys, threading
port = int(sys.argv[1])
try:
    s = socket.create_connection(("127.0.0.1", port))
except ConnectionRefusedError:
    sys.stderr.write("berth-relay: error nothing listens on port %d\n" % port); sys.exit(3)
except OSError as e:
    sys.stderr.write("berth-relay: error %s\n" % e.strerror); sys.exit(4)
sys.stderr.write("berth-relay: ok\n"); sys.stderr.flush()
def up():
    while True:
        b = os.read(0, 1 << 16)
        if not b:
            try: s.shutdown(socket.SHUT_WR)
            except OSError: pass
            return
        s.sendall(b)
threading.Thread(target=up, daemon=True).start()
while True:
    b = s.recv(1 << 16)
    if not b: break
    v = memoryview(b)
    while v: v = v[os.write(1, v):]
"#;

const PERL: &str = r#"use IO::Socket::INET;
my $port = $ARGV[0];
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Proto => "tcp")
  or do { print STDERR "berth-relay: error nothing listens on port $port\n"; exit 3 };
syswrite STDERR, "berth-relay: ok\n";
sub carry { my ($from, $to) = @_; my $b;
  while ((my $n = sysread($from, $b, 65536)) > 0) { my $o = 0;
    while ($o < $n) { my $w = syswrite($to, $b, $n - $o, $o); return unless defined $w; $o += $w } } }
my $pid = fork;
if ($pid == 0) { carry(\*STDIN, $s); shutdown($s, 1); exit 0 }
carry($s, \*STDOUT); kill "TERM", $pid; exit 0;
"#;

/// The last resort: no half-close (the server sees the end only when the client has gone).
const BASH: &str = r#"{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo "berth-relay: error nothing listens on port $1" >&2; exit 3; }
echo "berth-relay: ok" >&2
cat <&3 &
cat >&3
wait"#;

/// A TCP connection to `127.0.0.1:port` inside the container, as a loopback socket of this
/// process. `ConnectionRefused` when nothing listens there.
pub fn connect_port(target: &ExecTarget, port: u16) -> io::Result<TcpStream> {
    let (ours, theirs) = berth_core::frames::loopback_pair()?;
    let target = target.clone();
    start_apart("the port's relay", move |started| async move {
        relay(target, port, theirs, &started).await
    })?;
    Ok(ours)
}

async fn relay(
    target: ExecTarget,
    port: u16,
    client: TcpStream,
    started: &std::sync::mpsc::Sender<io::Result<()>>,
) -> io::Result<()> {
    let docker = connect(&target.engine).map_err(|e| io::Error::other(e.message))?;
    let argv = [
        "sh",
        "-c",
        CHOOSE,
        "berth-relay",
        &port.to_string(),
        PYTHON,
        PERL,
        BASH,
    ];
    let exec = docker
        .create_exec(
            &target.container,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                // The image may lack the user's locale: Perl then warns on every start.
                env: Some(vec!["LC_ALL=C".to_owned(), "PERL_BADLANG=0".to_owned()]),
                cmd: Some(argv.map(str::to_owned).to_vec()),
                user: target.user.clone(),
                ..Default::default()
            },
        )
        .await
        .map_err(io::Error::other)?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = docker
        .start_exec(&exec.id, None)
        .await
        .map_err(io::Error::other)?
    else {
        return Err(io::Error::other("the port's relay started detached"));
    };
    // The relay's word: whether it is connected.
    let mut said = Vec::new();
    let word = loop {
        let text = String::from_utf8_lossy(&said);
        if let Some(word) = text
            .split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
            .find_map(|line| line.strip_prefix(WORD))
        {
            break word.trim().to_owned();
        }
        match output.next().await {
            Some(Ok(LogOutput::StdErr { message })) => said.extend_from_slice(&message),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(io::Error::other(e)),
            None => break String::new(),
        }
    };
    if word != "ok" {
        let why = word.strip_prefix("error ").unwrap_or(&word);
        let kind = if why.starts_with("nothing listens") {
            io::ErrorKind::ConnectionRefused
        } else {
            io::ErrorKind::Other
        };
        let why = if why.is_empty() {
            format!(
                "the session's relay ended without a word (has the session stopped?): {}",
                String::from_utf8_lossy(&said).trim()
            )
        } else {
            why.to_owned()
        };
        return Err(io::Error::new(kind, why));
    }
    let _ = started.send(Ok(()));

    client.set_nonblocking(true)?;
    let client = tokio::net::TcpStream::from_std(client)?;
    let (mut from_client, mut to_client) = client.into_split();
    let up = async {
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            match from_client.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if input.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        // The client is done sending: the server sees the end, and may still answer.
        let _ = input.shutdown().await;
        std::future::pending::<()>().await;
    };
    let down = async {
        while let Some(chunk) = output.next().await {
            match chunk {
                Ok(LogOutput::StdOut { message }) => {
                    if to_client.write_all(&message).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = to_client.shutdown().await;
    };
    // The server closing (the relay ends) ends the connection.
    tokio::select! {
        () = down => {},
        () = up => {},
    }
    Ok(())
}

/// Each relay program run on this computer as the container runs it, against a real server:
/// its word, the bytes both ways, and a port nothing listens on.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::process::{Command, Stdio};

    use super::*;

    /// Reads `N\n` and N bytes, answers with them reversed, and closes.
    fn reversing_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let mut reader = BufReader::new(connection);
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut bytes = vec![0u8; line.trim().parse().unwrap()];
                reader.read_exact(&mut bytes).unwrap();
                bytes.reverse();
                reader.get_mut().write_all(&bytes).unwrap();
            }
        });
        port
    }

    fn relay_command(which: &str, port: u16) -> Command {
        let mut command = match which {
            "python3" => {
                let mut c = Command::new("python3");
                c.args(["-c", PYTHON]);
                c
            }
            "perl" => {
                let mut c = Command::new("perl");
                c.args(["-e", PERL]);
                c
            }
            _ => {
                let mut c = Command::new("bash");
                c.args(["-c", BASH, "berth-relay"]);
                c
            }
        };
        command
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    #[test]
    fn every_relay_says_its_word_and_carries_the_bytes_both_ways() {
        let port = reversing_server();
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        for which in ["python3", "perl", "bash"] {
            let mut relay = relay_command(which, port).spawn().unwrap();
            let mut said = String::new();
            BufReader::new(relay.stderr.take().unwrap())
                .read_line(&mut said)
                .unwrap();
            assert_eq!(said, format!("{WORD}ok\n"), "{which}");
            let mut stdin = relay.stdin.take().unwrap();
            let sent = payload.clone();
            let writer = std::thread::spawn(move || {
                stdin
                    .write_all(format!("{}\n", sent.len()).as_bytes())
                    .unwrap();
                stdin.write_all(&sent).unwrap();
                // Dropped: the client's end of sending.
            });
            let mut answer = Vec::new();
            relay
                .stdout
                .take()
                .unwrap()
                .read_to_end(&mut answer)
                .unwrap();
            writer.join().unwrap();
            relay.wait().unwrap();
            let mut expected = payload.clone();
            expected.reverse();
            assert!(answer == expected, "{which}: {} bytes back", answer.len());
        }

        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for which in ["python3", "perl", "bash"] {
            let ran = relay_command(which, closed).output().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ran.stderr),
                format!("{WORD}error nothing listens on port {closed}\n"),
                "{which}"
            );
            assert_eq!(ran.status.code(), Some(3), "{which}");
        }
    }
}
