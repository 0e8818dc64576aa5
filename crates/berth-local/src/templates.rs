//! The user's launch templates, one readable JSON file each in `templates/` of the config
//! directory (so they can be copied, shared and edited by hand), for the CLI and the window
//! alike, whichever engine they launch on.

use std::path::{Path, PathBuf};

use berth_core::template::validate_template_name;
use berth_core::{Error, ErrorCode, Result, Template};

pub struct Templates {
    dir: PathBuf,
}

/// What the template directory holds: the templates that read, and why each other file did
/// not (a broken file does not hide the good ones).
#[derive(Debug, Default)]
pub struct Listed {
    pub templates: Vec<Template>,
    pub unreadable: Vec<Error>,
}

impl Templates {
    pub fn open(config_dir: &Path) -> Self {
        Self {
            dir: config_dir.join("templates"),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        validate_template_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Saves `template`, replacing one of the same name only when `replace` says so. Written
    /// under a temporary name first, so a crash never leaves half a template.
    pub fn save(&self, template: &Template, replace: bool) -> Result<PathBuf> {
        let path = self.path(&template.name)?;
        if !replace && path.exists() {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!(
                    "Template \"{}\" already exists; pick another name, or replace it.",
                    template.name
                ),
            ));
        }
        let unwritable = |e: std::io::Error| {
            Error::internal(format!(
                "Cannot save template \"{}\" in {}: {e}",
                template.name,
                self.dir.display()
            ))
        };
        std::fs::create_dir_all(&self.dir).map_err(unwritable)?;
        let partial = self.dir.join(format!(".{}.json.partial", template.name));
        std::fs::write(&partial, template.to_bytes()).map_err(unwritable)?;
        std::fs::rename(&partial, &path).map_err(unwritable)?;
        Ok(path)
    }

    pub fn load(&self, name: &str) -> Result<Template> {
        let path = self.path(name)?;
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::new(
                ErrorCode::NotFound,
                format!("There is no template \"{name}\" (berth template list shows them)."),
            ),
            _ => Error::internal(format!("Cannot read {}: {e}", path.display())),
        })?;
        let template = Template::parse(&bytes, &path.display().to_string())?;
        if template.name != name {
            return Err(Error::invalid_input(format!(
                "{} holds template \"{}\", not \"{name}\": a file's name and its template's \
                 name must agree.",
                path.display(),
                template.name
            )));
        }
        Ok(template)
    }

    /// Every template, by name.
    pub fn list(&self) -> Result<Listed> {
        let mut listed = Listed::default();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listed),
            Err(e) => {
                return Err(Error::internal(format!(
                    "Cannot list {}: {e}",
                    self.dir.display()
                )));
            }
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".json").filter(|n| !n.starts_with('.')) else {
                continue;
            };
            match self.load(name) {
                Ok(template) => listed.templates.push(template),
                Err(error) => listed.unreadable.push(error),
            }
        }
        listed.templates.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::new(
                ErrorCode::NotFound,
                format!("There is no template \"{name}\"."),
            ),
            _ => Error::internal(format!("Cannot remove {}: {e}", path.display())),
        })
    }

    /// Takes in a template file from elsewhere (a colleague's, an export): read whole and
    /// checked first, then saved under its own name.
    pub fn import(&self, file: &Path, replace: bool) -> Result<Template> {
        let bytes = std::fs::read(file)
            .map_err(|e| Error::invalid_input(format!("Cannot read {}: {e}", file.display())))?;
        let template = Template::parse(&bytes, &file.display().to_string())?;
        self.save(&template, replace)?;
        Ok(template)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use berth_core::NewSession;

    #[test]
    fn templates_save_list_load_and_go_and_a_broken_file_hides_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let templates = Templates::open(dir.path());
        assert!(templates.list().unwrap().templates.is_empty());
        let t = Template::new("train", NewSession::interactive("host", vec![])).unwrap();
        templates.save(&t, false).unwrap();
        let again = templates.save(&t, false).unwrap_err();
        assert_eq!(again.code, ErrorCode::AlreadyExists);
        templates.save(&t, true).unwrap();
        std::fs::write(dir.path().join("templates/broken.json"), b"{").unwrap();

        let listed = templates.list().unwrap();
        assert_eq!(listed.templates, std::slice::from_ref(&t));
        assert_eq!(listed.unreadable.len(), 1);
        assert!(
            listed.unreadable[0].message.contains("broken.json"),
            "{}",
            listed.unreadable[0].message
        );
        assert_eq!(templates.load("train").unwrap(), t);
        assert_eq!(
            templates.load("gone").unwrap_err().code,
            ErrorCode::NotFound
        );
        templates.remove("train").unwrap();
        assert_eq!(
            templates.remove("train").unwrap_err().code,
            ErrorCode::NotFound
        );
        assert!(
            std::fs::read_dir(dir.path().join("templates"))
                .unwrap()
                .all(|e| !e
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".partial")),
            "no partial file is left"
        );
    }
}
