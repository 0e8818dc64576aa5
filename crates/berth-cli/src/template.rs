//! `berth template …`: a session's setup saved under a name, to launch again with
//! `berth session create --template NAME` on whichever engine is in use.

use berth_core::{Engine, Template};
use berth_local::templates::Templates;
use clap::Subcommand;

use crate::output::Output;
use crate::session::LaunchFlags;

#[derive(Subcommand)]
pub enum TemplateCommand {
    /// Save what these `session create` flags ask for as template NAME.
    Save {
        /// The template's name (letters, digits, '-', '_', '.').
        #[arg(value_name = "NAME")]
        template: String,
        /// Replace a template of the same name.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        launch: Box<LaunchFlags>,
    },
    /// Every template.
    List,
    /// One template as its file holds it (JSON: what `template import` takes).
    Show { name: String },
    /// Forget a template.
    Rm { name: String },
    /// Take in a template file (an export, a colleague's) under its own name.
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        replace: bool,
    },
}

/// Every template command. Only `save` needs the engine in use (its first environment is the
/// default); the others are files in the config directory, so `main` runs them without one.
pub async fn run(
    engine: Option<&dyn Engine>,
    templates: &Templates,
    command: TemplateCommand,
    out: &Output,
) -> berth_core::Result<()> {
    match command {
        TemplateCommand::Save {
            template: name,
            replace,
            launch,
        } => {
            let engine = engine.ok_or_else(|| {
                berth_core::Error::internal("Saving a template needs the engine in use.")
            })?;
            let template = Template::new(&name, launch.fresh(engine).await?)?;
            let path = templates.save(&template, replace)?;
            out.print(&template, || {
                format!("Saved template {name} ({})\n", path.display())
            });
            Ok(())
        }
        TemplateCommand::List => {
            let listed = templates.list()?;
            for problem in &listed.unreadable {
                eprintln!("berth: skipped: {}", problem.message);
            }
            out.print(&listed.templates, || {
                if listed.templates.is_empty() {
                    return "No templates (berth template save NAME --env ... saves one).\n".into();
                }
                listed
                    .templates
                    .iter()
                    .map(|t| format!("{:<24}  {}\n", t.name, summary(t)))
                    .collect()
            });
            Ok(())
        }
        TemplateCommand::Show { name } => {
            let template = templates.load(&name)?;
            out.print(&template, || {
                String::from_utf8_lossy(&template.to_bytes()).into_owned()
            });
            Ok(())
        }
        TemplateCommand::Rm { name } => {
            templates.remove(&name)?;
            out.print(&serde_json::json!({ "removed": name }), || {
                format!("Removed template {name}\n")
            });
            Ok(())
        }
        TemplateCommand::Import { file, replace } => {
            let template = templates.import(&file, replace)?;
            out.print(&template, || {
                format!("Imported template {}\n", template.name)
            });
            Ok(())
        }
    }
}

/// `docker:python:3.12, batch, 2 folders, 2 CPUs`.
fn summary(template: &Template) -> String {
    let s = &template.session;
    let mut parts = vec![
        s.environment.clone(),
        format!("{:?}", s.session_type).to_lowercase(),
    ];
    if !s.mounts.is_empty() {
        let names: Vec<&str> = s.mounts.iter().map(|m| m.folder.as_str()).collect();
        parts.push(format!("folders {}", names.join(", ")));
    }
    if let Some(cpus) = s.resources.cpus {
        parts.push(format!("{cpus} CPUs"));
    }
    parts.join(", ")
}
