//! `berth profile ...`: the Backend.AI clusters the CLI and the app can work with. Secrets are
//! read from a prompt (no echo) or from standard input, never from an argument: arguments end
//! up in shell history and in every process listing.

use std::io::{BufRead, IsTerminal};

use berth_backendai::{Login, Profiles};
use berth_core::{Engine, Error, Result};
use clap::Subcommand;

use crate::output::Output;

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Add a cluster and log in to it once; the password or secret key is asked for (or read
    /// from standard input) and kept in the system keychain.
    Add {
        name: String,
        /// The web server's address (with --email) or the manager's (with --access-key).
        #[arg(long)]
        endpoint: String,
        /// Log in through the web server with this email and a password.
        #[arg(
            long,
            conflicts_with = "access_key",
            required_unless_present = "access_key"
        )]
        email: Option<String>,
        /// Log in to the manager with this access key and its secret key.
        #[arg(long)]
        access_key: Option<String>,
        /// The one-time code from your authenticator app, where the site asks for one (it is
        /// valid for seconds, so an argument is fine).
        #[arg(long, value_name = "CODE")]
        otp: Option<String>,
    },
    /// Every profile, and which one commands use.
    List,
    /// Make commands (and the app, at its next start) use profile NAME; `local` for the local
    /// engine.
    Use { name: String },
    /// Forget a profile and its saved secret.
    Remove { name: String },
    /// Log in again (a changed password), saving the new secret.
    Login {
        name: String,
        /// The one-time code, where the site asks for one.
        #[arg(long, value_name = "CODE")]
        otp: Option<String>,
    },
}

/// The secret for `what`: from a no-echo prompt on a terminal, else the first line of stdin.
fn read_secret(what: &str) -> Result<String> {
    let secret = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{what}: "))
            .map_err(|e| Error::invalid_input(format!("Cannot read the {what}: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            Error::invalid_input(format!("Cannot read the {what} from standard input: {e}"))
        })?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if secret.is_empty() {
        return Err(Error::invalid_input(format!(
            "No {what} given: type it at the prompt or pipe it on standard input."
        )));
    }
    Ok(secret)
}

pub async fn run(profiles: &Profiles, command: ProfileCommand, out: &Output) -> Result<()> {
    if let Some(warning) = profiles.secrets().warning()
        && matches!(
            command,
            ProfileCommand::Add { .. } | ProfileCommand::Login { .. }
        )
    {
        eprintln!("berth: warning: {warning}");
    }
    match command {
        ProfileCommand::Add {
            name,
            endpoint,
            email,
            access_key,
            otp,
        } => {
            let (login, what) = match (email, access_key) {
                (Some(email), _) => (Login::Password { email }, "Password"),
                (None, Some(access_key)) => (Login::Keypair { access_key }, "Secret key"),
                (None, None) => {
                    return Err(Error::invalid_input(
                        "Give --email (web server login) or --access-key (API keypair).",
                    ));
                }
            };
            let secret = read_secret(what)?;
            let (profile, engine) = profiles.add(&name, &endpoint, login, secret, otp).await?;
            let server = engine.connection().server().clone();
            let mut value = serde_json::to_value(&profile).unwrap_or_default();
            value["manager_version"] = server.manager_version.clone().into();
            value["api_version"] = server.api_version.to_string().into();
            out.print(&value, || {
                format!(
                    "Added profile {name}: {} (Backend.AI {}, API {}). Secret kept in {}.\nUse it with `berth --profile {name} ...` or `berth profile use {name}`.\n",
                    profile.endpoint,
                    server.manager_version,
                    server.api_version,
                    profiles.secrets().describe()
                )
            });
        }
        ProfileCommand::List => {
            let list = profiles.list()?;
            let active = profiles.active()?;
            let value = serde_json::json!({ "active": active, "profiles": list });
            out.print(&value, || {
                let mut text = format!(
                    "{:<2}{:<20} {:<36} {}\n",
                    "", "PROFILE", "ENDPOINT", "LOGIN"
                );
                let mark = |on: bool| if on { "* " } else { "  " };
                text += &format!(
                    "{}{:<20} {:<36} {}\n",
                    mark(active.is_none()),
                    "local",
                    "(this computer)",
                    "-"
                );
                for profile in &list {
                    let login = match &profile.login {
                        Login::Password { email } => format!("password: {email}"),
                        Login::Keypair { access_key } => format!("keypair: {access_key}"),
                    };
                    text += &format!(
                        "{}{:<20} {:<36} {}\n",
                        mark(active.as_deref() == Some(profile.name.as_str())),
                        profile.name,
                        profile.endpoint,
                        login
                    );
                }
                text
            });
        }
        ProfileCommand::Use { name } => {
            let choice = (name != "local").then_some(name.as_str());
            profiles.set_active(choice)?;
            out.print(&serde_json::json!({ "active": choice }), || {
                format!("Commands now use {name}.\n")
            });
        }
        ProfileCommand::Remove { name } => {
            profiles.remove(&name)?;
            out.print(&serde_json::json!({ "removed": name }), || {
                format!("Removed profile {name} and its saved secret.\n")
            });
        }
        ProfileCommand::Login { name, otp } => {
            let profile = profiles.get(&name)?;
            let what = match profile.login {
                Login::Password { .. } => "Password",
                Login::Keypair { .. } => "Secret key",
            };
            let secret = read_secret(what)?;
            let engine = profiles.login(&name, secret, otp).await?;
            out.print(&serde_json::json!({ "logged_in": name }), || {
                format!(
                    "Logged in to {} as profile {name}.\n",
                    engine.info().location
                )
            });
        }
    }
    Ok(())
}
