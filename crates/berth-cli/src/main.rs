//! `berth`: the engine operations of the app, from a shell — for scripts, tests and benchmarks.
//! It calls the same engine API as the app, so what it reports is what the app would see.

mod doctor;
mod dotfiles;
mod files;
mod folder;
mod output;
mod profile;
mod session;
mod sync;
mod template;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use berth_local::templates::Templates;
use berth_local::{DataDirs, LocalEngine};
use clap::{Parser, Subcommand};
use output::Output;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Compute sessions and storage folders, from a shell"
)]
struct Cli {
    /// Keep folders and the catalog here instead of the OS's data directory
    /// (also: BERTH_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Work with Backend.AI profile NAME (see `berth profile`); `local` for the local engine.
    /// Without it, the profile chosen with `berth profile use` (also: BERTH_PROFILE).
    #[arg(long, global = true, value_name = "NAME", env = "BERTH_PROFILE")]
    profile: Option<String>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Backend.AI clusters: add, list, use, remove, login.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Check what the local engine can use on this computer, with a fix for each problem.
    /// Exits non-zero when local sessions cannot run here.
    Doctor,
    /// Storage folders: create, list, rename, trash, restore, purge.
    #[command(subcommand)]
    Folder(folder::FolderCommand),
    /// A folder's contents: ls, mkdir, mv, rm.
    #[command(subcommand)]
    Files(files::FilesCommand),
    /// Copy files and whole directories from this computer into a folder.
    Upload {
        folder: String,
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// Directory in the folder to upload into (its top level when omitted).
        #[arg(long)]
        to: Option<String>,
        /// What to do when a destination exists: replace, skip or keep-both. Without it an
        /// existing destination stops the command before anything is copied.
        #[arg(long, value_parser = transfer::parse_conflict)]
        conflict: Option<berth_transfer::ConflictPolicy>,
    },
    /// Copy files and directories from a folder to this computer.
    Download {
        folder: String,
        #[arg(required = true)]
        paths: Vec<String>,
        /// Local directory to download into.
        #[arg(long)]
        to: PathBuf,
        #[arg(long, value_parser = transfer::parse_conflict)]
        conflict: Option<berth_transfer::ConflictPolicy>,
    },
    /// The transfer queue: list, resume, cancel, clear.
    #[command(subcommand)]
    Transfers(transfer::TransfersCommand),
    /// A directory on this computer kept in step with a folder: once.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Environments sessions run in.
    #[command(subcommand)]
    Env(session::EnvCommand),
    /// Compute sessions: create, list, info, logs, destroy, exec, shell.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Launch templates: save, list, show, rm, import (launch with `session create --template`).
    #[command(subcommand)]
    Template(template::TemplateCommand),
    /// Dotfiles every new session finds in /home/work: list, set, rm.
    #[command(subcommand)]
    Dotfiles(dotfiles::DotfilesCommand),
    /// The script every new session runs once at start: set, show, clear.
    #[command(subcommand)]
    Bootstrap(dotfiles::BootstrapCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Diagnostics go to stderr so `--json` output stays parseable; quiet unless RUST_LOG asks.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let out = Output { json: cli.json };
    let dirs = match DataDirs::resolve(cli.data_dir) {
        Ok(dirs) => dirs,
        Err(error) => return out.fail(&error),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return out.fail(&berth_core::Error::internal(format!("cannot start: {e}"))),
    };
    let profiles = berth_backendai::Profiles::open(&dirs.config);
    let templates = Templates::open(&dirs.config);
    let command = match cli.command {
        Command::Doctor => return runtime.block_on(doctor::run(&dirs, cli.json)),
        Command::Template(command)
            if !matches!(command, template::TemplateCommand::Save { .. }) =>
        {
            return match runtime.block_on(template::run(None, &templates, command, &out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => out.fail(&error),
            };
        }
        Command::Profile(command) => {
            return match runtime.block_on(profile::run(&profiles, command, &out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => out.fail(&error),
            };
        }
        engine_command => engine_command,
    };
    let chosen = match cli.profile {
        Some(name) if name == "local" => None,
        Some(name) => Some(name),
        None => match profiles.active() {
            Ok(active) => active,
            Err(error) => return out.fail(&error),
        },
    };
    if let Some(name) = chosen {
        let outcome = runtime.block_on(async {
            let engine = std::sync::Arc::new(profiles.connect(&name).await?);
            on_cluster(&engine, &templates, command, dirs, &out).await
        });
        return match outcome {
            Ok(code) => code,
            Err(error) => out.fail(&error),
        };
    }
    let engine = match LocalEngine::open(dirs) {
        Ok(engine) => std::sync::Arc::new(engine),
        Err(error) => return out.fail(&error),
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Folder(command) => folder::run(&*engine, Some(&engine), command, &out).await,
            Command::Files(command) => files::run(&*engine, command, &out).await,
            Command::Upload {
                folder,
                sources,
                to,
                conflict,
            } => {
                let mover = transfer::Mover::Local(engine.clone());
                transfer::upload(mover, folder, sources, to, conflict, &out).await
            }
            Command::Download {
                folder,
                paths,
                to,
                conflict,
            } => {
                let mover = transfer::Mover::Local(engine.clone());
                transfer::download(mover, folder, paths, to, conflict, &out).await
            }
            Command::Transfers(command) => {
                transfer::transfers(transfer::Mover::Local(engine.clone()), command, &out).await
            }
            Command::Sync(command) => {
                sync::run(transfer::Mover::Local(engine.clone()), command, &out).await
            }
            Command::Env(command) => {
                session::env(session::Target::Local(&engine), command, &out).await
            }
            Command::Dotfiles(command) => dotfiles::dotfiles(&*engine, None, command, &out).await,
            Command::Bootstrap(command) => dotfiles::bootstrap(&*engine, command, &out).await,
            Command::Session(command) => {
                return session::run(
                    session::Target::Local(&engine),
                    &templates,
                    engine.dirs(),
                    command,
                    &out,
                )
                .await;
            }
            Command::Template(command) => {
                template::run(Some(&*engine), &templates, command, &out).await
            }
            Command::Doctor | Command::Profile(_) => Ok(()),
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match outcome {
        Ok(code) => code,
        Err(error) => out.fail(&error),
    }
}

/// A command for a Backend.AI profile: the same commands on the cluster's engine; what only
/// this computer does (`session exec`, importing environments) says so.
async fn on_cluster(
    engine: &std::sync::Arc<berth_backendai::BackendAiEngine>,
    templates: &Templates,
    command: Command,
    dirs: DataDirs,
    out: &Output,
) -> berth_core::Result<ExitCode> {
    let done = |result: berth_core::Result<()>| result.map(|()| ExitCode::SUCCESS);
    let cluster: &berth_backendai::BackendAiEngine = engine;
    let mover = || transfer::Mover::Cluster {
        engine: engine.clone(),
        data_dir: dirs.data.clone(),
    };
    match command {
        Command::Dotfiles(command) => {
            // Only `sync` needs this computer's engine; opening it costs a catalog read.
            let local = match &command {
                dotfiles::DotfilesCommand::Sync { .. } => Some(LocalEngine::open(dirs.clone())?),
                _ => None,
            };
            let local = local.as_ref().map(|l| l as &dyn berth_core::Engine);
            done(dotfiles::dotfiles(cluster, local, command, out).await)
        }
        Command::Bootstrap(command) => done(dotfiles::bootstrap(cluster, command, out).await),
        Command::Folder(command) => done(folder::run(cluster, None, command, out).await),
        Command::Files(command) => done(files::run(cluster, command, out).await),
        Command::Env(command) => {
            done(session::env(session::Target::Cluster(cluster), command, out).await)
        }
        Command::Session(command) => {
            session::run(
                session::Target::Cluster(cluster),
                templates,
                &dirs,
                command,
                out,
            )
            .await
        }
        Command::Upload {
            folder,
            sources,
            to,
            conflict,
        } => done(transfer::upload(mover(), folder, sources, to, conflict, out).await),
        Command::Download {
            folder,
            paths,
            to,
            conflict,
        } => done(transfer::download(mover(), folder, paths, to, conflict, out).await),
        Command::Transfers(command) => done(transfer::transfers(mover(), command, out).await),
        Command::Sync(command) => done(sync::run(mover(), command, out).await),
        Command::Template(command) => {
            done(template::run(Some(cluster), templates, command, out).await)
        }
        Command::Doctor | Command::Profile(_) => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    /// clap checks a command's definition only when it is used: this checks them all at once
    /// (two flags of one command sharing a name would otherwise surface as a user's panic).
    #[test]
    fn every_command_is_well_defined() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
