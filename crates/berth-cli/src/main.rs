//! `berth`: the engine operations of the app, from a shell — for scripts, tests and benchmarks.
//! It calls the same engine API as the app, so what it reports is what the app would see.

mod doctor;
mod files;
mod folder;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

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

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check what the local engine can use on this computer, with a fix for each problem.
    /// Exits non-zero when local sessions cannot run here.
    Doctor,
    /// Storage folders: create, list, rename, trash, restore, purge.
    #[command(subcommand)]
    Folder(folder::FolderCommand),
    /// A folder's contents: ls, mkdir, mv, rm.
    #[command(subcommand)]
    Files(files::FilesCommand),
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
    let command = match cli.command {
        Command::Doctor => return runtime.block_on(doctor::run(&dirs, cli.json)),
        engine_command => engine_command,
    };
    let engine = match LocalEngine::open(dirs) {
        Ok(engine) => engine,
        Err(error) => return out.fail(&error),
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Folder(command) => folder::run(&engine, command, &out).await,
            Command::Files(command) => files::run(&engine, command, &out).await,
            Command::Doctor => Ok(()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => out.fail(&error),
    }
}
