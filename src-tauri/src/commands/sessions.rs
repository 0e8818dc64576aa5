//! The launcher, the Sessions page and its detail drawer: thin calls into the engine.

use berth_core::{
    Environment, Error, MountPreview, MountRequest, NewSession, Placements, ResourceLimits,
    Session, SessionPlacement, SessionStats, session::validate_session_name,
};
use tauri::{AppHandle, State};

use crate::ActiveEngine;

/// The Sessions page's list.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_sessions(state: State<'_, ActiveEngine>) -> Result<Vec<Session>, Error> {
    state.get()?.list_sessions().await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_environments(state: State<'_, ActiveEngine>) -> Result<Vec<Environment>, Error> {
    state.get()?.list_environments().await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn resource_limits(
    state: State<'_, ActiveEngine>,
    placement: SessionPlacement,
) -> Result<ResourceLimits, Error> {
    state.get()?.resource_limits(&placement).await
}

/// The launcher's project and resource group pickers: every place a session can go, with
/// `default` the profile's last choice while the cluster still offers it, else the engine's.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn session_placements(state: State<'_, ActiveEngine>) -> Result<Placements, Error> {
    let mut placements = state.get()?.placements().await?;
    if let Some(cluster) = state.cluster()
        && let Some(last) = state.profiles()?.placement(cluster.profile())?
        && placements.projects.iter().any(|p| {
            Some(&p.project) == last.project.as_ref()
                && p.resource_groups
                    .iter()
                    .any(|g| Some(&g.name) == last.resource_group.as_ref())
        })
    {
        placements.default = last;
    }
    Ok(placements)
}

/// Remembers the launcher's project and resource group for the connected profile (nothing to
/// remember on this computer).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub fn remember_placement(
    state: State<'_, ActiveEngine>,
    placement: SessionPlacement,
) -> Result<(), Error> {
    match state.cluster() {
        Some(cluster) => state
            .profiles()?
            .remember_placement(cluster.profile(), placement),
        None => Ok(()),
    }
}

/// The launcher's name field, checked by the same rule the engine applies.
#[tauri::command]
#[specta::specta]
pub fn check_session_name(name: String) -> Result<(), Error> {
    validate_session_name(&name)
}

/// Where the picked folders (and the automounts) would be mounted, with every problem: the
/// Data & Storage step calls this as the user types.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn preview_mounts(
    state: State<'_, ActiveEngine>,
    requests: Vec<MountRequest>,
) -> Result<MountPreview, Error> {
    state.get()?.preview_mounts(requests).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(app, state), err)]
pub async fn create_session(
    app: AppHandle,
    state: State<'_, ActiveEngine>,
    spec: NewSession,
) -> Result<Session, Error> {
    let engine = state.get()?;
    let session = engine.create_session(spec).await?;
    crate::session_notice::announce_when_ready(app, engine, session.clone());
    Ok(session)
}

/// What a running session uses now, for the drawer's live line.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(level = "debug"))]
pub async fn session_stats(
    state: State<'_, ActiveEngine>,
    id: String,
) -> Result<SessionStats, Error> {
    state.get()?.session_stats(&id).await
}

/// A local session's samples over the last hour, oldest first, for the drawer's graphs
/// (empty for one the app has not sampled yet).
#[tauri::command]
#[specta::specta]
pub fn session_history(
    vitals: State<'_, crate::session_vitals::LocalVitals>,
    id: String,
) -> Vec<SessionStats> {
    vitals.0.history(&id)
}

/// More time for a session with limits (see `Engine::extend_session`).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn extend_session(
    state: State<'_, ActiveEngine>,
    id: String,
    by_secs: u32,
) -> Result<Session, Error> {
    state.get()?.extend_session(&id, u64::from(by_secs)).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn session(state: State<'_, ActiveEngine>, id: String) -> Result<Session, Error> {
    state.get()?.session(&id).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn destroy_session(state: State<'_, ActiveEngine>, id: String) -> Result<Session, Error> {
    state.get()?.destroy_session(&id).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn session_logs(state: State<'_, ActiveEngine>, id: String) -> Result<String, Error> {
    state.get()?.session_logs(&id).await
}
