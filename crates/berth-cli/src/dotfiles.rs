//! `berth dotfiles …` and `berth bootstrap …`: what every new session finds in `/home/work` and
//! runs at start.

use std::io::Read;
use std::path::PathBuf;

use berth_core::{Dotfile, Engine, Error};
use clap::Subcommand;

use crate::output::Output;

#[derive(Subcommand)]
pub enum DotfilesCommand {
    /// The dotfiles every new session gets.
    List,
    /// Add or replace a dotfile from a file on this computer (`-` reads stdin).
    Set {
        /// Its path in /home/work, starting with '.': .bashrc, .config/git/config.
        name: String,
        file: PathBuf,
        /// Permission bits, e.g. 600 (the file's own, or 644 from stdin, when omitted).
        #[arg(long, value_parser = parse_mode)]
        mode: Option<u32>,
    },
    /// Remove a dotfile.
    #[command(name = "rm")]
    Rm { name: String },
    /// With --profile: make the cluster's dotfiles and bootstrap script the same as this
    /// computer's (added, replaced, and removed where this computer has none).
    Sync {
        /// The other way: make this computer's the same as the cluster's.
        #[arg(long)]
        pull: bool,
    },
}

#[derive(Subcommand)]
pub enum BootstrapCommand {
    /// Set the script every new session runs once at start (`-` reads stdin).
    Set { file: PathBuf },
    /// Print the script.
    Show,
    /// Remove the script.
    Clear,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text.trim_start_matches("0o"), 8)
        .map_err(|_| format!("\"{text}\" is not an octal mode like 644"))
}

/// The file's text and permission bits; stdin for `-`.
fn read(file: &PathBuf) -> berth_core::Result<(String, u32)> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::invalid_input(format!("Cannot read stdin: {e}")))?;
        return Ok((text, 0o644));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::invalid_input(format!("Cannot read {}: {e}", file.display())))?;
    Ok((text, file_mode(file)))
}

/// The file's permission bits, as the session will give them.
#[cfg(unix)]
fn file_mode(file: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644)
}

/// Windows files carry no Unix mode: a script (by its extension) is executable, the rest 644;
/// `--mode` says otherwise.
#[cfg(not(unix))]
fn file_mode(file: &std::path::Path) -> u32 {
    match file.extension().and_then(|e| e.to_str()) {
        Some("sh" | "bash" | "py") => 0o755,
        _ => 0o644,
    }
}

pub async fn dotfiles(
    engine: &dyn Engine,
    // This computer's engine, for `sync` on a cluster profile; `None` when `engine` is it.
    local: Option<&dyn Engine>,
    command: DotfilesCommand,
    out: &Output,
) -> berth_core::Result<()> {
    match command {
        DotfilesCommand::List => {
            let all = engine.list_dotfiles().await?;
            out.print(&all, || {
                if all.is_empty() {
                    return "No dotfiles. Add one with `berth dotfiles set .bashrc FILE`.\n".into();
                }
                all.iter()
                    .map(|d| format!("{:04o}  {:>6} B  {}\n", d.mode, d.content.len(), d.path))
                    .collect()
            });
        }
        DotfilesCommand::Set { name, file, mode } => {
            let (content, file_mode) = read(&file)?;
            let dotfile = Dotfile {
                path: name.clone(),
                content,
                mode: mode.unwrap_or(file_mode),
            };
            engine.set_dotfile(dotfile).await?;
            out.print(&serde_json::json!({ "set": name }), || {
                format!("{name} will be in /home/work of every new session\n")
            });
        }
        DotfilesCommand::Rm { name } => {
            engine.remove_dotfile(&name).await?;
            out.print(&serde_json::json!({ "removed": name }), || {
                format!("Removed {name}\n")
            });
        }
        DotfilesCommand::Sync { pull } => {
            let local = local.ok_or_else(|| {
                Error::invalid_input(
                    "`dotfiles sync` copies between this computer and a cluster: name the cluster with --profile NAME.",
                )
            })?;
            let (from, to) = if pull {
                (engine, local)
            } else {
                (local, engine)
            };
            let sync = berth_core::dotfiles::mirror_personal_setup(from, to).await?;
            out.print(&sync, || {
                let list = |paths: &[String]| {
                    if paths.is_empty() {
                        "none".to_string()
                    } else {
                        paths.join(", ")
                    }
                };
                format!(
                    "Added: {}\nReplaced: {}\nRemoved: {}\nBootstrap script: {}\n",
                    list(&sync.added),
                    list(&sync.updated),
                    list(&sync.removed),
                    if sync.bootstrap_changed {
                        "copied"
                    } else {
                        "already the same"
                    }
                )
            });
        }
    }
    Ok(())
}

pub async fn bootstrap(
    engine: &dyn Engine,
    command: BootstrapCommand,
    out: &Output,
) -> berth_core::Result<()> {
    match command {
        BootstrapCommand::Set { file } => {
            let (script, _) = read(&file)?;
            engine.set_bootstrap_script(Some(script)).await?;
            out.print(&serde_json::json!({ "set": true }), || {
                "Every new session runs this script once at start.\n".into()
            });
        }
        BootstrapCommand::Show => {
            let script = engine.bootstrap_script().await?;
            out.print(&serde_json::json!({ "script": script }), || {
                script
                    .clone()
                    .unwrap_or_else(|| "No bootstrap script.\n".into())
            });
        }
        BootstrapCommand::Clear => {
            engine.set_bootstrap_script(None).await?;
            out.print(&serde_json::json!({ "cleared": true }), || {
                "New sessions run no bootstrap script.\n".into()
            });
        }
    }
    Ok(())
}
