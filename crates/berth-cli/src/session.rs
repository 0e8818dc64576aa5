//! `berth env …` and `berth session …`: the launcher, the sessions page and the terminal from a
//! shell. Sessions made here are the app's sessions too (same catalog, same supervisors).

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use berth_backendai::BackendAiEngine;
use berth_backendai::terminal::{TransportChoice, open_terminal};
use berth_forward::AppKind;
use berth_local::DataDirs;
use berth_local::forward::ForwardList;
use berth_local::ssh::access::BerthSshConfig;

use berth_core::frames::{Frame, FrameStream, parse_exit, read_frame, resize_payload, write_frame};
use berth_core::limits::describe_duration;
use berth_core::{
    Engine, EnvVar, Error, MountAccess, MountRequest, NetworkMode, NewSession, Session,
    SessionRuntime, SessionType,
};
use berth_forward::ssh::SSH_USER;
use berth_local::LocalEngine;
use berth_local::templates::Templates;
use clap::{Args, Subcommand, ValueEnum};

use crate::output::{Output, utc_minute};

/// Where session commands go: this computer, or a cluster profile. Most commands are the
/// engine API; a shell and an exec reach a session differently on each.
pub enum Target<'a> {
    Local(&'a LocalEngine),
    Cluster(&'a BackendAiEngine),
}

impl Target<'_> {
    fn engine(&self) -> &dyn Engine {
        match self {
            Self::Local(engine) => *engine,
            Self::Cluster(engine) => *engine,
        }
    }

    /// The local engine for what only it does, or an error naming `what`.
    fn local(&self, what: &str) -> berth_core::Result<&LocalEngine> {
        match self {
            Self::Local(engine) => Ok(engine),
            Self::Cluster(engine) => Err(Error::invalid_input(format!(
                "{what} is done on this computer's engine; run it with --profile local (the profile in use is \"{}\").",
                engine.profile()
            ))),
        }
    }
}

#[derive(Subcommand)]
pub enum EnvCommand {
    /// The environments a session can run in.
    List,
    /// Import a `docker save` or OCI image archive as an environment.
    Import {
        archive: std::path::PathBuf,
        /// Its name in `--env` (the archive's file name when omitted).
        #[arg(long)]
        name: Option<String>,
    },
    /// Register a root file system directory (e.g. made by debootstrap) as an environment.
    Add {
        name: String,
        directory: std::path::PathBuf,
    },
    /// Forget an environment (an imported image's files are deleted).
    Remove { name: String },
}

/// What a launch asks for, as `session create` and `template save` take it. Every flag is
/// optional, so each one given changes a template's setup and none given leaves it alone.
#[derive(Args, Default)]
pub struct LaunchFlags {
    #[arg(long)]
    pub name: Option<String>,
    /// Environment id from `berth env list` (the engine's first one when omitted: `host` on
    /// this computer's Linux engine).
    #[arg(long)]
    pub env: Option<String>,
    /// A folder to mount: NAME, NAME:TARGET, NAME:ro or NAME:TARGET:ro. TARGET absolute
    /// mounts there, relative mounts under /home/work. Repeatable.
    #[arg(long = "mount", value_name = "NAME[:TARGET][:ro]", value_parser = parse_mount)]
    pub mounts: Vec<MountRequest>,
    /// interactive (the default) or batch.
    #[arg(long = "type", value_enum)]
    pub session_type: Option<TypeArg>,
    /// The startup command of a batch session.
    #[arg(long)]
    pub command: Option<String>,
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeArg>,
    /// outbound (the default), none or host.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// CPUs to pin the session to.
    #[arg(long)]
    pub cpus: Option<u32>,
    /// Size of the scratch /home/work in MiB.
    #[arg(long, value_name = "MIB")]
    pub scratch: Option<u64>,
    /// An environment variable for every process of the session (the startup command,
    /// shells, execs): NAME=VALUE, VALUE may be empty. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<EnvVar>,
    /// On a cluster: the project the session belongs to (the cluster's `default` when you
    /// are a member of it, else your first).
    #[arg(long)]
    pub project: Option<String>,
    /// On a cluster: the resource group whose agents run the session (one the project may
    /// use; `default` first when omitted).
    #[arg(long = "resource-group")]
    pub resource_group: Option<String>,
    /// End the session after this long without terminal input and with its CPU under the
    /// idle threshold: 45s, 30m, 8h, 1h30m; `none` clears a template's.
    #[arg(long = "idle-timeout", value_name = "DURATION", value_parser = parse_idle_timeout)]
    pub idle_timeout: Option<Limit>,
    /// End the session this long after it starts: 30m, 8h, 2d; `none` clears a template's.
    #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
    pub lifetime: Option<Limit>,
    /// CPU use (percent of one core, 1-100) under which a session counts as idle (default 5).
    #[arg(long = "idle-cpu", value_name = "PERCENT")]
    pub idle_cpu: Option<u32>,
    /// On a cluster: a port of a server you will start in the session, to open on this
    /// computer later with `session open` (repeatable). A local session's ports need none.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
}

/// A limit as given on the command line: a duration, or `none` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(Option<u64>);

fn parse_limit(field: &str, text: &str) -> Result<Limit, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Limit(None));
    }
    berth_core::limits::parse_duration(field, text)
        .map(|secs| Limit(Some(secs)))
        .map_err(|e| e.message)
}

fn parse_idle_timeout(text: &str) -> Result<Limit, String> {
    parse_limit("Idle timeout", text)
}

fn parse_lifetime(text: &str) -> Result<Limit, String> {
    parse_limit("Lifetime", text)
}

fn parse_extension(text: &str) -> Result<u64, String> {
    berth_core::limits::parse_duration("Extension", text).map_err(|e| e.message)
}

impl LaunchFlags {
    /// `base` (a template's setup, or a fresh one) with what these flags say instead.
    pub fn applied_to(self, mut base: NewSession) -> NewSession {
        if self.name.is_some() {
            base.name = self.name;
        }
        if let Some(env) = self.env {
            base.environment = env;
        }
        if !self.mounts.is_empty() {
            base.mounts = self.mounts;
        }
        if let Some(kind) = self.session_type {
            base.session_type = match kind {
                TypeArg::Interactive => SessionType::Interactive,
                TypeArg::Batch => SessionType::Batch,
            };
        }
        if self.command.is_some() {
            base.command = self.command;
        }
        if let Some(runtime) = self.runtime {
            base.runtime = Some(match runtime {
                RuntimeArg::Bwrap => SessionRuntime::Bwrap,
                RuntimeArg::Docker => SessionRuntime::Docker,
            });
        }
        if let Some(network) = self.network {
            base.network = match network {
                NetworkArg::Outbound => NetworkMode::Outbound,
                NetworkArg::None => NetworkMode::None,
                NetworkArg::Host => NetworkMode::Host,
            };
        }
        if self.cpus.is_some() {
            base.resources.cpus = self.cpus;
        }
        if let Some(mib) = self.scratch {
            base.resources.scratch_bytes = Some(mib << 20);
        }
        if !self.vars.is_empty() {
            base.environ = self.vars;
        }
        if self.project.is_some() {
            base.project = self.project;
        }
        if self.resource_group.is_some() {
            base.resource_group = self.resource_group;
        }
        if let Some(Limit(secs)) = self.idle_timeout {
            base.limits.idle_timeout_secs = secs;
        }
        if let Some(Limit(secs)) = self.lifetime {
            base.limits.lifetime_secs = secs;
        }
        if self.idle_cpu.is_some() {
            base.limits.idle_cpu_percent = self.idle_cpu;
        }
        if !self.ports.is_empty() {
            base.ports = self.ports;
        }
        base
    }

    /// A new setup from these flags alone; without --env, the engine's first environment.
    pub async fn fresh(self, engine: &dyn Engine) -> berth_core::Result<NewSession> {
        let env = match &self.env {
            Some(env) => env.clone(),
            None => engine
                .list_environments()
                .await?
                .into_iter()
                .next()
                .map(|e| e.id)
                .ok_or_else(|| {
                    Error::invalid_input("There is no environment to run a session in.")
                })?,
        };
        Ok(self.applied_to(NewSession::interactive(env, Vec::new())))
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TypeArg {
    Interactive,
    Batch,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RuntimeArg {
    Bwrap,
    Docker,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ViaArg {
    /// ttyd through the cluster's App Proxy where it offers one, else through the manager's
    /// tcpproxy.
    Auto,
    /// ttyd through the App Proxy; an error where the cluster does not offer it.
    Ttyd,
    /// ttyd through the manager's tcpproxy websocket (what `backend.ai app` uses).
    Tcpproxy,
    /// The manager's pty websocket. It opens but carries nothing on 26.x kernels; kept for
    /// older clusters whose kernels answer it.
    Pty,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NetworkArg {
    /// The outside world through user-mode networking; not the host's loopback services.
    Outbound,
    /// Loopback only.
    None,
    /// The host's network, its loopback services included.
    Host,
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// Start a session; prints its id (the whole session with --json).
    Create {
        /// Start from saved template NAME (`berth template list`); the flags given change
        /// what they name (a --mount or --var replaces the template's list).
        #[arg(long, value_name = "NAME")]
        template: Option<String>,
        #[command(flatten)]
        launch: Box<LaunchFlags>,
    },
    /// Every session, newest first.
    List,
    /// One session's details.
    Info { id: String },
    /// What the session's startup printed (a batch command's output).
    Logs { id: String },
    /// What a running session uses now: CPU (100% = one core), memory, storage read and
    /// written. With --watch, again every 2 s until interrupted (one JSON line each with --json).
    Stats {
        id: String,
        #[arg(long)]
        watch: bool,
    },
    /// End a session: its processes and scratch are gone, mounted folders keep their files.
    Destroy { id: String },
    /// Give a session with an idle timeout or lifetime more time: its lifetime grows by
    /// DURATION (from now, if it was about to end) and its idle clock starts again.
    Extend {
        id: String,
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_extension)]
        by: u64,
    },
    /// Run a command in a session without a terminal; its stdout, stderr and exit status are
    /// passed through. On a cluster it runs through the manager's execute API, with no input.
    Exec {
        id: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Open an app of a running session (jupyter, ttyd, sshd...) or a port of a server in it
    /// on this computer's loopback: prints the local URL (or `ssh` command) as its first line,
    /// opens a web app in the browser, and keeps the forward until interrupted (Ctrl-C) or the
    /// session ends. On a cluster, a port must be one the session offers (`session apps`).
    Open {
        id: String,
        /// An app's name, or a port number.
        app: String,
        /// The port on this computer (a free one when omitted).
        #[arg(long = "local-port")]
        local_port: Option<u16>,
        /// Print the URL only; open no browser.
        #[arg(long = "no-browser")]
        no_browser: bool,
        /// Also open it to other computers, on ADDRESS[:PORT] of this one (0.0.0.0 for all its
        /// addresses; a free port when none is given). Anyone who can reach this computer there
        /// can use the app: only on a network you trust. The local URL stays on loopback.
        #[arg(long, value_name = "ADDRESS[:PORT]")]
        share: Option<String>,
    },
    /// The port forwards open on this computer (the window's and `session open`'s), or only
    /// those of session ID.
    Ports { id: Option<String> },
    /// The apps a session offers to open (a cluster session's image apps and the ports it was
    /// launched to open; a local session's SSH).
    Apps { id: String },
    /// Berth's ssh_config, with a `Host berth-NAME` entry for each local session whose SSH was
    /// opened; `--include` adds it to ~/.ssh/config (one `Include` line at the top), so `ssh
    /// berth-NAME` and VS Code's Remote-SSH know the sessions.
    SshConfig {
        #[arg(long)]
        include: bool,
    },
    /// An interactive shell in the session, in this terminal.
    Shell {
        id: String,
        /// On a cluster, how the terminal is carried.
        #[arg(long, value_enum, default_value = "auto")]
        via: ViaArg,
        /// Say on stderr how the terminal is carried and why.
        #[arg(long, short)]
        verbose: bool,
    },
}

/// `NAME`, `NAME:TARGET`, `NAME:ro`, `NAME:TARGET:ro` (or `:rw`).
pub fn parse_mount(text: &str) -> Result<MountRequest, String> {
    let mut parts: Vec<&str> = text.split(':').collect();
    let access = match parts.last().copied() {
        Some("ro") if parts.len() > 1 => Some(MountAccess::ReadOnly),
        Some("rw") if parts.len() > 1 => Some(MountAccess::ReadWrite),
        _ => None,
    };
    if access.is_some() {
        parts.pop();
    }
    match parts.as_slice() {
        [name] if !name.is_empty() => Ok(MountRequest {
            folder: (*name).to_owned(),
            alias: None,
            access,
        }),
        [name, target] if !name.is_empty() => Ok(MountRequest {
            folder: (*name).to_owned(),
            alias: Some((*target).to_owned()).filter(|t| !t.is_empty()),
            access,
        }),
        _ => Err(format!(
            "\"{text}\" is not NAME, NAME:TARGET, NAME:ro or NAME:TARGET:ro"
        )),
    }
}

/// `NAME=VALUE`, split at the first `=`; the engine checks the name's rules.
pub fn parse_var(text: &str) -> Result<EnvVar, String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok(EnvVar::new(name, value)),
        Some(_) => Err(format!(
            "\"{text}\" has no name before '='; write NAME=VALUE"
        )),
        None => Err(format!(
            "\"{text}\" is not NAME=VALUE; write {text}=VALUE (VALUE may be empty)"
        )),
    }
}

pub async fn env(target: Target<'_>, command: EnvCommand, out: &Output) -> berth_core::Result<()> {
    match command {
        EnvCommand::List => {
            let environments = target.engine().list_environments().await?;
            out.print(&environments, || {
                environments
                    .iter()
                    .map(|e| format!("{:<12}  {:<16}  {}\n", e.id, e.name, e.description))
                    .collect()
            });
        }
        EnvCommand::Import { archive, name } => {
            let path = std::path::absolute(&archive).unwrap_or(archive);
            let engine_name = name.clone();
            let environment = target
                .local("Importing an image")?
                .import_image(&path, engine_name.as_deref())?;
            out.print(&environment, || {
                format!(
                    "Imported {} as environment \"{}\" ({})\n",
                    path.display(),
                    environment.name,
                    environment.id
                )
            });
        }
        EnvCommand::Add { name, directory } => {
            let path = std::path::absolute(&directory).unwrap_or(directory);
            let environment = target
                .local("Adding a root file system")?
                .add_rootfs_environment(&name, &path)?;
            out.print(&environment, || {
                format!(
                    "Added environment \"{}\" ({})\n",
                    environment.name, environment.id
                )
            });
        }
        EnvCommand::Remove { name } => {
            target
                .local("Removing an environment")?
                .remove_environment(&name)?;
            out.print(&serde_json::json!({ "removed": name }), || {
                format!("Removed environment {name}\n")
            });
        }
    }
    Ok(())
}

fn elapsed(session: &Session) -> String {
    let end = session.ended_at_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    });
    let secs = ((end - session.created_at_ms).max(0)) / 1000;
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn status_word(session: &Session) -> String {
    serde_json::to_value(session.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn table(sessions: &[Session]) -> String {
    if sessions.is_empty() {
        return "No sessions. Start one with `berth session create --mount FOLDER`.\n".to_owned();
    }
    let mut text = format!(
        "{:<12}  {:<20}  {:<10}  {:<6}  {:<9}  {:<20}  {}\n",
        "ID", "NAME", "STATUS", "ENV", "ELAPSED", "CREATED", "MOUNTS"
    );
    for s in sessions {
        let mounts: Vec<String> = s
            .mounts
            .iter()
            .map(|m| format!("{}→{}", m.folder_name, m.target))
            .collect();
        text += &format!(
            "{:<12}  {:<20}  {:<10}  {:<6}  {:<9}  {:<20}  {}\n",
            s.id,
            s.name,
            status_word(s),
            s.environment,
            elapsed(s),
            utc_minute(s.created_at_ms),
            mounts.join(", ")
        );
    }
    text
}

fn details(s: &Session) -> String {
    let mut text = format!(
        "id:          {}\nname:        {}\nstatus:      {}\ntype:        {:?}\nenvironment: {}\n\
         runtime:     {:?}\nnetwork:     {:?}\ncreated:     {}\nelapsed:     {}\n",
        s.id,
        s.name,
        status_word(s),
        s.session_type,
        s.environment,
        s.runtime,
        s.network,
        utc_minute(s.created_at_ms),
        elapsed(s)
    );
    if let Some(command) = &s.command {
        text += &format!("command:     {command}\n");
    }
    if let Some(code) = s.exit_code {
        text += &format!("exit status: {code}\n");
    }
    if let Some(detail) = &s.status_detail {
        text += &format!("detail:      {detail}\n");
    }
    if let Some(secs) = s.limits.idle_timeout_secs {
        text += &format!(
            "idle limit:  {} (CPU under {}%, no input)\n",
            describe_duration(secs),
            s.limits.idle_cpu_percent()
        );
    }
    if let Some(secs) = s.limits.lifetime_secs {
        text += &format!("lifetime:    {}", describe_duration(secs));
        if let Some(ends) = s.lifetime_ends_at_ms {
            text += &format!(" (ends {})", utc_minute(ends));
        }
        text += "\n";
    }
    text += &format!("system:      {}\n", system_word(s));
    if !s.environ.is_empty() {
        text += "variables:\n";
        for var in &s.environ {
            // A newline or other control character in a value would break the listing.
            let value: String = var
                .value
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            text += &format!("  {}={value}\n", var.name);
        }
    }
    text += "mounts:\n";
    for m in &s.mounts {
        text += &format!(
            "  {} → {}{}{}\n",
            m.folder_name,
            m.target,
            if m.read_only { " (read-only)" } else { "" },
            if m.automount { " (always mounted)" } else { "" }
        );
    }
    text
}

/// `CPU 98.5% · memory 12.3 MiB · read 0 B · written 4.0 KiB`.
fn stats_line(stats: &berth_core::SessionStats) -> String {
    let mut line = format!(
        "CPU {:.1}% · memory {} · read {} · written {}",
        stats.cpu_percent,
        crate::output::human_bytes(stats.memory_bytes),
        crate::output::human_bytes(stats.read_bytes),
        crate::output::human_bytes(stats.write_bytes)
    );
    if let Some(gpu) = stats.gpu_percent {
        line += &format!(" · GPU {gpu:.0}%");
        if let Some(bytes) = stats.gpu_memory_bytes {
            line += &format!(", {}", crate::output::human_bytes(bytes));
        }
    }
    line
}

pub async fn run(
    target: Target<'_>,
    templates: &Templates,
    dirs: &DataDirs,
    command: SessionCommand,
    out: &Output,
) -> berth_core::Result<ExitCode> {
    let forwards = ForwardList::of(dirs);
    let engine = target.engine();
    match command {
        SessionCommand::Create { template, launch } => {
            let spec = match template {
                Some(name) => launch.applied_to(templates.load(&name)?.session),
                None => launch.fresh(engine).await?,
            };
            let session = engine.create_session(spec).await?;
            out.print(&session, || format!("{}\n", session.id));
        }
        SessionCommand::List => {
            let sessions = engine.list_sessions().await?;
            out.print(&sessions, || table(&sessions));
        }
        SessionCommand::Info { id } => {
            let session = engine.session(&id).await?;
            out.print(&session, || details(&session));
        }
        SessionCommand::Stats { id, watch } => loop {
            let stats = engine.session_stats(&id).await?;
            if watch && out.json {
                println!("{}", serde_json::to_string(&stats).unwrap_or_default());
            } else {
                out.print(&stats, || format!("{}\n", stats_line(&stats)));
            }
            if !watch {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        },
        SessionCommand::Logs { id } => {
            let logs = engine.session_logs(&id).await?;
            out.print(&serde_json::json!({ "logs": logs }), || logs.clone());
        }
        SessionCommand::Extend { id, by } => {
            let session = engine.extend_session(&id, by).await?;
            out.print(&session, || {
                let mut text = format!("Extended {} by {}", session.name, describe_duration(by));
                if let Some(ends) = session.lifetime_ends_at_ms {
                    text += &format!("; its lifetime now ends at {}", utc_minute(ends));
                }
                text + ".\n"
            });
        }
        SessionCommand::Destroy { id } => {
            let session = engine.destroy_session(&id).await?;
            out.print(&session, || {
                format!("Destroyed {} ({})\n", session.name, session.id)
            });
        }
        SessionCommand::Open {
            id,
            app,
            local_port,
            no_browser,
            share,
        } => {
            // Checked before anything opens, so a typo costs nothing.
            let share = share.as_deref().map(share_address).transpose()?;
            let mut ssh_command: Option<String> = None;
            let mut forward = match target {
                Target::Local(local) if app == berth_local::ssh::SSH_APP => {
                    let forward = local.open_ssh(&id, local_port).await?;
                    let access =
                        local.ssh_access(&forward.record.session_name, forward.local.port())?;
                    ssh_command = Some(access.command);
                    eprintln!(
                        "Or `ssh {}` (and VS Code's Remote-SSH) once ~/.ssh/config includes \
                         Berth's: `berth session ssh-config --include`.",
                        access.host
                    );
                    forward
                }
                Target::Local(local) => local.open_app(&id, &app, local_port).await?,
                Target::Cluster(cluster) => {
                    let mut forward = cluster.open_app(&id, &app, local_port).await?;
                    forwards.keep(&mut forward);
                    if forward.record.kind == AppKind::Ssh {
                        let access = cluster
                            .session_ssh_access(
                                &forward.record.session_id,
                                forward.local.port(),
                                &berth_local::ssh::cluster_key_dir(dirs),
                            )
                            .await?;
                        let config = BerthSshConfig::at(&berth_local::ssh::ssh_dir(dirs));
                        if let Err(error) = config.put(&access) {
                            eprintln!("berth: {error}");
                        }
                        eprintln!(
                            "Or `ssh {}` once ~/.ssh/config includes Berth's: `berth session \
                             ssh-config --include`.",
                            access.host
                        );
                        ssh_command = Some(access.command);
                    }
                    forward
                }
            };
            let address = forward.open_address(SSH_USER);
            let first_line = match (forward.record.kind, ssh_command) {
                (AppKind::Ssh, Some(command)) => command,
                (AppKind::Ssh, None) => format!(
                    "ssh -p {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null {SSH_USER}@127.0.0.1",
                    forward.local.port()
                ),
                _ => address.clone(),
            };
            println!("{first_line}");
            let _ = std::io::stdout().flush();
            if forward.record.kind == AppKind::Web {
                // An app that logs in by a form (code-server) opens through a page that does
                // it; that page also serves a user who opens the browser themselves.
                let login = forward.login_page.is_some();
                let browser = forward.browser_address(&dirs.runtime, SSH_USER)?;
                if login && no_browser {
                    eprintln!(
                        "{app} asks for a password: open {browser} to be logged in (readable by \
                         you only; removed in a minute)."
                    );
                }
                if !no_browser && let Err(error) = open::that_detached(&browser) {
                    eprintln!("berth: could not open a browser ({error}); open {browser} yourself");
                }
            }
            let what = match &forward.record.app {
                Some(app) => format!("{app} (port {})", forward.record.port),
                None => format!("port {}", forward.record.port),
            };
            let via = forward
                .record
                .via
                .as_ref()
                .map(|via| format!(" through {via}"))
                .unwrap_or_default();
            eprintln!(
                "Forwarding {what} of session {} to {}{via} (Ctrl-C stops).",
                forward.record.session_name, forward.local
            );
            let _shared = match share {
                Some(address) => {
                    let shared = berth_forward::share(address, forward.local).await?;
                    let port = shared.address.port();
                    let reach = if shared.address.ip().is_unspecified() {
                        format!("port {port} of every address of this computer")
                    } else {
                        shared.address.to_string()
                    };
                    eprintln!(
                        "Warning: {what} of session {} is also open to other computers, at                          {reach}: anyone who can reach this computer there can use it{}.",
                        forward.record.session_name,
                        if forward.record.kind == AppKind::Ssh {
                            " (SSH still asks for the key)"
                        } else {
                            ""
                        }
                    );
                    Some(shared)
                }
                None => None,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                why = forward.ended() => {
                    eprintln!("The forward closed: {why}.");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        SessionCommand::SshConfig { include } => {
            let config = BerthSshConfig::at(&berth_local::ssh::ssh_dir(dirs));
            if include {
                let user = berth_local::ssh::include_ssh_config(dirs)?;
                eprintln!("{} now includes {}.", user.display(), config.file.display());
            }
            print!(
                "# {}\n{}",
                config.file.display(),
                std::fs::read_to_string(&config.file).unwrap_or_default()
            );
        }
        SessionCommand::Apps { id } => {
            let apps = match target {
                Target::Local(local) => local.session_apps(&id).await?,
                Target::Cluster(cluster) => cluster.session_apps(&id).await?,
            };
            out.print(&apps, || {
                if apps.is_empty() {
                    return "The session declares no apps; open any port of a server in it with \
                            `berth session open ID PORT`.\n"
                        .to_owned();
                }
                let mut text = format!("{:<16}  {:>5}  {}\n", "APP", "PORT", "KIND");
                for app in &apps {
                    text += &format!(
                        "{:<16}  {:>5}  {}\n",
                        app.name,
                        app.port,
                        match app.kind {
                            AppKind::Web => "web",
                            AppKind::Ssh => "ssh",
                            AppKind::Tcp => "tcp",
                        }
                    );
                }
                text
            });
        }
        SessionCommand::Ports { id } => {
            let session = match &id {
                Some(id) => Some(target.engine().session(id).await?),
                None => None,
            };
            let open: Vec<_> = forwards
                .open()
                .into_iter()
                .filter(|f| session.as_ref().is_none_or(|s| s.id == f.session_id))
                .collect();
            out.print(&open, || {
                if open.is_empty() {
                    return "No ports are forwarded.\n".to_owned();
                }
                let mut text = format!(
                    "{:<20}  {:<14}  {:<12}  {:<30}  {}\n",
                    "SESSION", "ENGINE", "APP", "LOCAL", "SINCE"
                );
                for f in &open {
                    let app = match &f.app {
                        Some(app) => format!("{app}:{}", f.port),
                        None => f.port.to_string(),
                    };
                    text += &format!(
                        "{:<20}  {:<14}  {:<12}  {:<30}  {}\n",
                        f.session_name,
                        f.engine,
                        app,
                        f.address(SSH_USER),
                        utc_minute(f.since_ms)
                    );
                }
                text
            });
        }
        SessionCommand::Exec { id, command } => {
            let local = match target {
                Target::Local(local) => local,
                // Through the manager's execute API; output as it comes, no input.
                Target::Cluster(cluster) => {
                    let session = cluster.session(&id).await?;
                    if session.status != berth_core::SessionStatus::Running {
                        return Err(Error::invalid_input(format!(
                            "Session \"{}\" is not running ({:?}), so it cannot run a command.{}",
                            session.name,
                            session.status,
                            session
                                .status_detail
                                .as_deref()
                                .map(|d| format!(" {d}"))
                                .unwrap_or_default()
                        )));
                    }
                    let code = berth_backendai::exec::exec(
                        cluster.connection(),
                        &session.name,
                        &command,
                        |stream, text| {
                            use std::io::Write;
                            let _ = match stream {
                                berth_backendai::exec::Stream::Stdout => {
                                    let mut out = std::io::stdout();
                                    out.write_all(text.as_bytes()).and_then(|()| out.flush())
                                }
                                berth_backendai::exec::Stream::Stderr => {
                                    std::io::stderr().write_all(text.as_bytes())
                                }
                            };
                        },
                    )
                    .await?;
                    return Ok(exit_code(code));
                }
            };
            let (_, client) = local.session_client(&id)?;
            let stream = client.exec(command).map_err(session_error)?;
            return tokio::task::spawn_blocking(move || pass_through(stream))
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
        }
        SessionCommand::Shell { id, via, verbose } => {
            let (cols, rows) = terminal_size();
            let stream = match target {
                Target::Local(local) => {
                    let (_, client) = local.session_client(&id)?;
                    client.terminal(cols, rows).map_err(session_error)?
                }
                // ttyd (App Proxy or tcpproxy) or the manager's pty, bridged onto the same
                // frames.
                Target::Cluster(cluster) => {
                    let session = cluster.session(&id).await?;
                    let choice = match via {
                        ViaArg::Auto => TransportChoice::Auto,
                        ViaArg::Ttyd => TransportChoice::Ttyd,
                        ViaArg::Tcpproxy => TransportChoice::Tcpproxy,
                        ViaArg::Pty => TransportChoice::Pty,
                    };
                    let opened = open_terminal(
                        cluster.connection(),
                        &session.id,
                        &session.name,
                        cols,
                        rows,
                        choice,
                    )
                    .await?;
                    if verbose {
                        eprintln!("berth: terminal: {}", opened.describe());
                    }
                    opened.stream
                }
            };
            return tokio::task::spawn_blocking(move || interactive(stream))
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn session_error(e: std::io::Error) -> Error {
    Error::internal(format!("The session did not answer: {e}"))
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Copies this process's stdin to the command and its output back, until it exits.
fn pass_through(stream: FrameStream) -> berth_core::Result<ExitCode> {
    let mut writer = stream.try_clone().map_err(session_error)?;
    // A terminal on stdin means nobody is piping input: the command gets end-of-file at once
    // instead of waiting for keys that are meant for this shell.
    if std::io::stdin().is_terminal() {
        let _ = write_frame(&mut writer, Frame::InputEnd, &[]);
    } else {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut stdin = std::io::stdin().lock();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || write_frame(&mut writer, Frame::Input, &buf[..n]).is_err() {
                    break;
                }
            }
            let _ = write_frame(&mut writer, Frame::InputEnd, &[]);
        });
    }
    let mut reader = stream;
    let mut payload = Vec::new();
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr().lock());
    while let Some(frame) = read_frame(&mut reader, &mut payload).map_err(session_error)? {
        match frame {
            Frame::Output => {
                let _ = stdout.write_all(&payload).and_then(|()| stdout.flush());
            }
            Frame::Stderr => {
                let _ = stderr.write_all(&payload);
            }
            Frame::Exit => return Ok(exit_code(parse_exit(&payload))),
            _ => {}
        }
    }
    Err(Error::internal("The session ended before the command did."))
}

fn terminal_size() -> (u16, u16) {
    match crossterm::terminal::size() {
        Ok((cols, rows)) if cols > 0 => (cols, rows),
        _ => (80, 24),
    }
}

/// Puts this terminal in raw mode for as long as it lives, restoring it on drop.
struct RawMode(bool);

impl RawMode {
    fn enter() -> Self {
        Self(crossterm::terminal::enable_raw_mode().is_ok())
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

/// `berth session shell`: keys go to the session's shell raw, its output comes back, and the
/// window size follows this terminal.
fn interactive(stream: FrameStream) -> berth_core::Result<ExitCode> {
    let _raw = std::io::stdin().is_terminal().then(RawMode::enter);
    let mut keys = stream.try_clone().map_err(session_error)?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || write_frame(&mut keys, Frame::Input, &buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut sizes = stream.try_clone().map_err(session_error)?;
    std::thread::spawn(move || {
        // Polled rather than a SIGWINCH handler: four checks a second are plenty for a resize.
        let mut last = terminal_size();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(250));
            let now = terminal_size();
            if now != last {
                last = now;
                if write_frame(&mut sizes, Frame::Resize, &resize_payload(now.0, now.1)).is_err() {
                    break;
                }
            }
        }
    });
    let mut reader = stream;
    let mut payload = Vec::new();
    let mut stdout = std::io::stdout().lock();
    while let Some(frame) = read_frame(&mut reader, &mut payload).map_err(session_error)? {
        match frame {
            Frame::Output => {
                let _ = stdout.write_all(&payload).and_then(|()| stdout.flush());
            }
            Frame::Exit => return Ok(exit_code(parse_exit(&payload))),
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the session may write its system directories, in the words the drawer uses.
fn system_word(s: &Session) -> String {
    match (&s.root_note, s.writable_root) {
        (_, true) => "writable (a throwaway copy, gone when the session ends)".to_string(),
        (Some(note), false) => format!("read-only ({note})"),
        (None, false) => "read-only".to_string(),
    }
}

/// `--share`'s ADDRESS[:PORT] (no port: a free one). Errors name the value and the form.
fn share_address(value: &str) -> berth_core::Result<std::net::SocketAddr> {
    value
        .parse::<std::net::SocketAddr>()
        .or_else(|_| {
            value
                .parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, 0))
        })
        .map_err(|_| {
            berth_core::Error::invalid_input(format!(
                "--share {value}: give an address of this computer, optionally with a port \
                 (0.0.0.0, 0.0.0.0:9000, 192.168.1.20:9000, [::]:9000)."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_arguments_parse_name_target_and_access() {
        let m = parse_mount("data").unwrap();
        assert_eq!((m.folder.as_str(), m.alias, m.access), ("data", None, None));
        let m = parse_mount("data:/workspace").unwrap();
        assert_eq!(m.alias.as_deref(), Some("/workspace"));
        let m = parse_mount("data:ro").unwrap();
        assert_eq!((m.alias, m.access), (None, Some(MountAccess::ReadOnly)));
        let m = parse_mount("data:in/x:ro").unwrap();
        assert_eq!(
            (m.alias.as_deref(), m.access),
            (Some("in/x"), Some(MountAccess::ReadOnly))
        );
        assert!(parse_mount("").is_err());
        assert!(parse_mount("a:b:c:d").is_err());
    }

    #[test]
    fn var_arguments_split_at_the_first_equals() {
        assert_eq!(parse_var("A=b=c"), Ok(EnvVar::new("A", "b=c")));
        assert_eq!(parse_var("A="), Ok(EnvVar::new("A", "")));
        assert!(parse_var("A").unwrap_err().contains("A=VALUE"));
        assert!(parse_var("=x").unwrap_err().contains("no name"));
    }
}
