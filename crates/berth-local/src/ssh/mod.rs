//! SSH and SFTP into a local session, for any SSH client, SFTP clients (FileZilla, WinSCP) and
//! VS Code's Remote-SSH: Berth serves SSH itself on this computer's loopback (russh) and runs
//! what each connection asks for inside the sandbox through its supervisor — so it works in
//! every environment, with a network or without, and nothing is started in the session until
//! a client connects. Logins are by key only (loopback is reachable by every user of this
//! computer): Berth's own key, or the user's `~/.ssh` keys. A session keeps its port while
//! Berth remembers it, so an `~/.ssh/config` entry stays right across reopening.

pub mod access;
pub mod keys;
mod server;

use std::path::PathBuf;
use std::sync::Arc;

use berth_core::Result;
use berth_forward::{AppKind, Counted, Forward, ForwardRecord, ForwardTarget};

use crate::LocalEngine;
use crate::supervisor::client::SupervisorClient;
use keys::SshKeys;

/// How a session's SSH server is named among its apps and forwards.
pub const SSH_APP: &str = "ssh";

impl LocalEngine {
    /// Serves SSH into running session `key` on `127.0.0.1:local_port`; without one, on the
    /// port this session had last time if it is free, else a free one. Errors: the session's
    /// (not running), the local port's (taken), or the keys' (cannot be kept).
    pub async fn open_ssh(&self, key: &str, local_port: Option<u16>) -> Result<Forward> {
        let (session, client) = self.session_client(key)?;
        let keys = Arc::new(self.ssh_keys()?);
        let remembered = access::PortMemory::at(&self.ssh_dir());
        let listener = match local_port {
            Some(port) => berth_forward::listen(Some(port)).await?,
            None => match remembered.port_of(&session.id) {
                Some(port) => match berth_forward::listen(Some(port)).await {
                    Ok(listener) => listener,
                    Err(_) => berth_forward::listen(None).await?,
                },
                None => berth_forward::listen(None).await?,
            },
        };
        let config = russh::server::Config {
            keys: vec![keys.host.clone()],
            // Key logins only; a refused key is said at once (no password to guess).
            methods: russh::MethodSet::from(&[russh::MethodKind::PublicKey][..]),
            auth_rejection_time: std::time::Duration::from_millis(100),
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            inactivity_timeout: None,
            keepalive_interval: Some(std::time::Duration::from_secs(30)),
            ..Default::default()
        };
        let target = Arc::new(SessionSshTarget {
            config: Arc::new(config),
            keys,
            client,
            name: session.name.clone(),
        });
        let record = ForwardRecord {
            session_id: session.id.clone(),
            session_name: session.name.clone(),
            engine: crate::forward::THIS_COMPUTER.into(),
            app: Some(SSH_APP.into()),
            port: 22,
            kind: AppKind::Ssh,
            local: String::new(),
            since_ms: 0,
            pid: 0,
            via: None,
        };
        let mut forward = Forward::start(listener, target, record)?;
        remembered.remember(&session.id, forward.local.port());
        self.forward_list().keep(&mut forward);
        // Berth's own ssh_config follows (the user's takes it in only if they asked).
        let access = self.ssh_access(&session.name, forward.local.port())?;
        if let Err(error) = self.ssh_config().put(&access) {
            tracing::warn!(%error, "cannot write Berth's ssh_config");
        }
        Ok(forward)
    }

    /// Berth's own `ssh_config`, with an entry per session whose SSH was opened.
    pub fn ssh_config(&self) -> access::BerthSshConfig {
        access::BerthSshConfig::at(&self.ssh_dir())
    }

    /// Takes Berth's `ssh_config` into the user's `~/.ssh/config` (one `Include` line at its
    /// top), so `ssh berth-NAME` and VS Code's Remote-SSH know the sessions. Errors: no home
    /// directory, or the file cannot be written (named).
    pub fn include_ssh_config(&self) -> Result<std::path::PathBuf> {
        include_ssh_config(self.dirs())
    }

    /// How to reach session `name`'s SSH server listening at `port`: the `ssh` command, the
    /// `~/.ssh/config` entry, and the files they name. Makes the keys if there are none.
    pub fn ssh_access(&self, session_name: &str, port: u16) -> Result<access::SshAccess> {
        let keys = self.ssh_keys()?;
        Ok(access::local_access(session_name, port, &keys))
    }

    fn ssh_dir(&self) -> PathBuf {
        ssh_dir(self.dirs())
    }

    fn ssh_keys(&self) -> Result<SshKeys> {
        SshKeys::load_or_create(&self.ssh_dir(), user_ssh_dir().as_deref())
    }
}

/// Where Berth keeps SSH keys and its `ssh_config`: `<data>/ssh`.
pub fn ssh_dir(dirs: &crate::DataDirs) -> PathBuf {
    dirs.data.join("ssh")
}

/// Where the keys of cluster sessions' own `sshd` are kept (`<data>/ssh/cluster`).
pub fn cluster_key_dir(dirs: &crate::DataDirs) -> PathBuf {
    ssh_dir(dirs).join("cluster")
}

/// Takes Berth's `ssh_config` (in `dirs`) into the user's `~/.ssh/config`; returns that file.
/// Errors: no home directory, or the file cannot be written (named).
pub fn include_ssh_config(dirs: &crate::DataDirs) -> Result<PathBuf> {
    let user = user_ssh_dir().ok_or_else(|| {
        berth_core::Error::internal("This computer's user has no home directory for ~/.ssh.")
    })?;
    let file = user.join("config");
    access::BerthSshConfig::at(&ssh_dir(dirs)).include_in(&file)?;
    Ok(file)
}

/// `~/.ssh`, where the user's own keys are.
pub fn user_ssh_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.home_dir().join(".ssh"))
}

/// A session's SSH server: each connection to the forward is an SSH connection served here.
struct SessionSshTarget {
    config: Arc<russh::server::Config>,
    keys: Arc<SshKeys>,
    client: SupervisorClient,
    name: String,
}

#[async_trait::async_trait]
impl ForwardTarget for SessionSshTarget {
    async fn carry(&self, client: Counted<tokio::net::TcpStream>) {
        let handler = server::SessionSsh {
            keys: self.keys.clone(),
            client: self.client.clone(),
        };
        match russh::server::run_stream(self.config.clone(), client, handler).await {
            Ok(running) => {
                if let Err(error) = running.await {
                    tracing::debug!(session = %self.name, %error, "an SSH connection ended");
                }
            }
            Err(error) => {
                tracing::debug!(session = %self.name, %error, "an SSH connection failed to start")
            }
        }
    }

    async fn still_there(&self) -> std::result::Result<(), String> {
        crate::forward::session_answers(&self.client, &self.name).await
    }
}
