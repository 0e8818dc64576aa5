//! Connection profiles: the status bar's engine switch and the profiles dialog. The password or
//! secret key typed in the dialog goes to Rust once and is kept in the keychain; nothing here
//! ever sends a secret back to the webview.

use std::sync::Arc;

use berth_backendai::{BackendAiEngine, Login, Profile};
use berth_core::{Engine, EngineInfo, Error};
use serde::Serialize;
use tauri::{AppHandle, State};
use tauri_specta::Event;

use crate::ActiveEngine;

/// Sent when a cluster call found the login expired and the saved secret no longer works: the
/// window asks for the password over whatever screen is open.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct LoginExpired {
    pub profile: String,
}

/// Makes `engine` the window's engine, telling the window when its login expires.
fn connect_window(app: &AppHandle, state: &ActiveEngine, engine: BackendAiEngine) -> EngineInfo {
    let info = engine.info();
    let profile = engine.profile().to_string();
    let window = app.clone();
    engine.connection().on_login_expired(Arc::new(move || {
        let event = LoginExpired {
            profile: profile.clone(),
        };
        if let Err(error) = event.emit(&window) {
            tracing::warn!(%error, "cannot tell the window its login expired");
        }
    }));
    let engine = Arc::new(engine);
    state.set_cluster(Some(engine.clone()));
    match state.open_cluster_transfers(&engine) {
        Ok(Some(queue)) => {
            crate::batch_notice::show_when_batches_finish(app.clone(), queue.clone());
            // The profile's syncs run from now until the app quits.
            use tauri::Manager;
            app.state::<crate::commands::syncs::Syncs>().run_profile(
                app,
                engine.profile(),
                engine.clone(),
                queue.clone(),
            );
            // Unfinished transfers of this profile from the last run continue now.
            tauri::async_runtime::spawn(async move {
                queue.start();
            });
        }
        Ok(None) => {}
        Err(error) => tracing::error!(%error, "the cluster's transfer queue cannot open"),
    }
    info
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ProfilesView {
    pub profiles: Vec<Profile>,
    /// The profile chosen last (also by `berth profile use`); `None`: the local engine.
    pub active: Option<String>,
    /// The profile the window is connected to now, if any.
    pub connected: Option<String>,
    /// Set when secrets go to an encrypted file because no keychain service runs.
    pub secret_store_warning: Option<String>,
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub fn list_profiles(state: State<'_, ActiveEngine>) -> Result<ProfilesView, Error> {
    let profiles = state.profiles()?;
    Ok(ProfilesView {
        profiles: profiles.list()?,
        active: profiles.active()?,
        connected: state.cluster().map(|c| c.profile().to_string()),
        secret_store_warning: profiles.secrets().warning(),
    })
}

/// Adds a profile after logging in with it, and switches the window to it.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(app, state, secret, otp), err)]
pub async fn add_profile(
    app: AppHandle,
    state: State<'_, ActiveEngine>,
    name: String,
    endpoint: String,
    login: Login,
    secret: String,
    otp: Option<String>,
) -> Result<EngineInfo, Error> {
    let profiles = state.profiles()?;
    let (profile, engine) = profiles
        .add(name.trim(), &endpoint, login, secret, otp)
        .await?;
    profiles.set_active(Some(&profile.name))?;
    Ok(connect_window(&app, &state, engine))
}

/// Changes profile `name`'s address and login after logging in with the result; `secret` `None`
/// keeps the saved password or secret key. When the window is connected to that profile it
/// reconnects with the new settings and the answer is its engine; otherwise `None`.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(app, state, secret, otp), err)]
pub async fn edit_profile(
    app: AppHandle,
    state: State<'_, ActiveEngine>,
    name: String,
    endpoint: String,
    login: Login,
    secret: Option<String>,
    otp: Option<String>,
) -> Result<Option<EngineInfo>, Error> {
    let (_, engine) = state
        .profiles()?
        .edit(&name, &endpoint, login, secret, otp)
        .await?;
    if state.cluster().is_some_and(|c| c.profile() == name) {
        return Ok(Some(connect_window(&app, &state, engine)));
    }
    Ok(None)
}

/// Switches the window to profile `name` (logging in with its saved secret), or to the local
/// engine with `None`. The choice is remembered for the next start.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(app, state), err)]
pub async fn use_profile(
    app: AppHandle,
    state: State<'_, ActiveEngine>,
    name: Option<String>,
) -> Result<EngineInfo, Error> {
    let profiles = state.profiles()?;
    match name {
        Some(name) => {
            let engine = profiles.connect(&name).await?;
            profiles.set_active(Some(&name))?;
            Ok(connect_window(&app, &state, engine))
        }
        None => {
            profiles.set_active(None)?;
            state.set_cluster(None);
            Ok(state.get()?.info())
        }
    }
}

/// Logs in to profile `name` again with a new password or secret key (after `login_expired`).
/// The open screens stay; their next call works.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(app, state, secret, otp), err)]
pub async fn login_profile(
    app: AppHandle,
    state: State<'_, ActiveEngine>,
    name: String,
    secret: String,
    otp: Option<String>,
) -> Result<EngineInfo, Error> {
    let engine = state.profiles()?.login(&name, secret, otp).await?;
    if state.cluster().is_some_and(|c| c.profile() == name) {
        return Ok(connect_window(&app, &state, engine));
    }
    Ok(engine.info())
}

/// Forgets a profile and its secret; removing the one in use switches to the local engine.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub fn remove_profile(state: State<'_, ActiveEngine>, name: String) -> Result<(), Error> {
    state.profiles()?.remove(&name)?;
    if state.cluster().is_some_and(|c| c.profile() == name) {
        state.set_cluster(None);
    }
    Ok(())
}
