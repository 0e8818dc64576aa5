//! A forward opened to other computers, only when the user asks for it (`berth session open
//! --share`): a second listener, on an address of their choosing, whose every connection is
//! passed to the forward's own loopback listener. Anyone who can reach this computer on that
//! port can then use the app, so the forward itself stays on loopback and this is a separate,
//! visible step.

use std::net::SocketAddr;
use std::time::Duration;

use berth_core::{Error, Result};
use tokio::net::{TcpListener, TcpStream};

use crate::carry_both;

/// The listener [`share`] opened; closed (connections already made run on) when dropped.
pub struct Shared {
    /// Where other computers reach it (the port filled in when a free one was picked).
    pub address: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Listens on `address` (port 0: a free one) and passes each connection to `forward`, the
/// forward's loopback address. Errors: `invalid_input` for an address this computer does not
/// have or a port in use, with the fix.
pub async fn share(address: SocketAddr, forward: SocketAddr) -> Result<Shared> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => Error::invalid_input(format!(
                "Port {} is already in use on this computer: pick another one for --share.",
                address.port()
            )),
            std::io::ErrorKind::AddrNotAvailable => Error::invalid_input(format!(
                "{} is not an address of this computer: give one of its own, or 0.0.0.0 for all \
                 of them.",
                address.ip()
            )),
            std::io::ErrorKind::PermissionDenied => Error::invalid_input(format!(
                "Port {} needs administrator rights: pick one above 1023.",
                address.port()
            )),
            _ => Error::internal(format!("Cannot listen on {address}: {e}")),
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("Cannot listen on {address}: {e}")))?;
    let accepting = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((inbound, from)) => {
                    tracing::info!(%from, "a connection from another computer to a shared forward");
                    tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(forward).await {
                            let _ = carry_both(inbound, outbound).await;
                        }
                    });
                }
                // Out of file descriptors, say: the next accept may succeed.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Ok(Shared { address, accepting })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_shared_listener_passes_each_connection_to_the_forward_and_closes_when_dropped() {
        let forward = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let forward_address = forward.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = forward.accept().await {
                tokio::spawn(async move {
                    let mut asked = [0u8; 4];
                    socket.read_exact(&mut asked).await.unwrap();
                    socket.write_all(b"answer").await.unwrap();
                });
            }
        });
        let shared = share("0.0.0.0:0".parse().unwrap(), forward_address)
            .await
            .unwrap();
        assert!(shared.address.ip().is_unspecified());
        for _ in 0..2 {
            let mut client = TcpStream::connect(("127.0.0.1", shared.address.port()))
                .await
                .unwrap();
            client.write_all(b"ask?").await.unwrap();
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.unwrap();
            assert_eq!(answer, b"answer");
        }
        // Its port taken: refused with the fix.
        let taken = share(shared.address, forward_address).await.err().unwrap();
        assert!(taken.message.contains("already in use"), "{taken}");
        let port = shared.address.port();
        drop(shared);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
        // An address this computer does not have.
        let foreign = share("192.0.2.1:0".parse().unwrap(), forward_address)
            .await
            .err()
            .unwrap();
        assert!(
            foreign.message.contains("not an address of this computer"),
            "{foreign}"
        );
    }
}
