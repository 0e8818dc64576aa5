//! Launch templates for the Sessions page and the launcher's review step: thin calls into the
//! template files of the config directory, shared with `berth template`.

use berth_core::{Error, NewSession, Template};
use serde::Serialize;
use tauri::State;

use crate::ActiveEngine;

/// Every template that reads, and what each other file says is wrong with it.
#[derive(Debug, Serialize, specta::Type)]
pub struct TemplateList {
    pub templates: Vec<Template>,
    pub unreadable: Vec<String>,
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_templates(state: State<'_, ActiveEngine>) -> Result<TemplateList, Error> {
    let listed = state.templates()?.list()?;
    Ok(TemplateList {
        templates: listed.templates,
        unreadable: listed.unreadable.into_iter().map(|e| e.message).collect(),
    })
}

/// Saves the launcher's setup as template `name`; `already_exists` unless `replace`.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, session), err)]
pub async fn save_template(
    state: State<'_, ActiveEngine>,
    name: String,
    session: NewSession,
    replace: bool,
) -> Result<Template, Error> {
    let template = Template::new(name.trim(), session)?;
    state.templates()?.save(&template, replace)?;
    Ok(template)
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn remove_template(state: State<'_, ActiveEngine>, name: String) -> Result<(), Error> {
    state.templates()?.remove(&name)
}
