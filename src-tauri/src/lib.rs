//! Berth's desktop shell. It only wires: logging, the active engine as app state, and thin
//! commands that call the engine and map its errors. Domain logic lives in the `berth-*` crates.

mod batch_notice;
mod commands;
mod graphics;
mod launch_link;
mod logging;
mod output_batch;
mod quit_guard;
mod session_notice;
mod session_vitals;
mod settings;
mod single_instance;
mod state;
mod tray;
mod web_process;

use specta_typescript::{BigIntExportBehavior, Typescript};

pub use state::ActiveEngine;

/// Where the generated TypeScript bindings live, relative to this crate.
pub const BINDINGS_PATH: &str = "../ui/src/lib/bindings.ts";

/// Every command the UI may call, with the types they use, for both the invoke handler and the
/// TypeScript bindings: one list, so the two cannot drift apart.
pub fn ipc() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .events(tauri_specta::collect_events![
            quit_guard::QuitRequested,
            session_notice::SessionReady,
            session_notice::SessionStopped,
            session_notice::BatchFinished,
            session_vitals::VitalsSampled,
            session_vitals::SessionEnding,
            commands::profiles::LoginExpired,
            launch_link::LaunchLinksWaiting,
            commands::edit_copies::EditCopiesChanged,
            commands::syncs::SyncsChanged
        ])
        .commands(tauri_specta::collect_commands![
            commands::engine::engine_info,
            commands::dotfiles::sync_personal_setup,
            commands::profiles::list_profiles,
            commands::profiles::add_profile,
            commands::profiles::use_profile,
            commands::profiles::login_profile,
            commands::profiles::remove_profile,
            commands::profiles::edit_profile,
            commands::folders::list_hosts,
            commands::folders::add_host,
            commands::folders::remove_host,
            commands::folders::pick_host_directory,
            commands::folders::list_projects,
            commands::folders::list_folders,
            commands::folders::list_trash,
            commands::folders::folder_usage,
            commands::folders::check_folder_name,
            commands::folders::create_folder,
            commands::folders::rename_folder,
            commands::folders::clone_folder,
            commands::folders::trash_folder,
            commands::folders::restore_folder,
            commands::folders::purge_folder,
            commands::files::list_files,
            commands::files::list_names,
            commands::files::read_file_range,
            commands::files::read_text_for_edit,
            commands::files::save_text,
            commands::edit_copies::open_in_editor,
            commands::edit_copies::edit_copies_open,
            commands::edit_copies::resolve_edit_copy,
            commands::edit_copies::close_edit_copy,
            commands::syncs::list_syncs,
            commands::syncs::add_sync,
            commands::syncs::pause_sync,
            commands::syncs::remove_sync,
            commands::syncs::pick_sync_directory,
            commands::files::stat_files,
            commands::files::make_dir,
            commands::files::move_path,
            commands::files::remove_paths,
            commands::files::watch_directory,
            commands::files::unwatch_directory,
            commands::transfers::upload_paths,
            commands::transfers::download_paths,
            commands::transfers::pick_upload_sources,
            commands::transfers::pick_download_directory,
            commands::transfers::list_transfers,
            commands::transfers::watch_transfers,
            commands::transfers::control_transfer,
            commands::transfers::clear_finished_transfers,
            commands::transfers::transfer_settings,
            commands::transfers::set_transfer_concurrency,
            commands::transfers::reveal_transfer,
            launch_link::take_launch_links,
            commands::templates::list_templates,
            commands::templates::save_template,
            commands::templates::remove_template,
            commands::sessions::list_sessions,
            commands::ports::session_apps,
            commands::ports::include_ssh_config,
            commands::ports::open_in_vscode,
            commands::ports::open_port,
            commands::ports::list_ports,
            commands::ports::close_port,
            commands::ports::open_port_url,
            commands::sessions::session_history,
            commands::sessions::extend_session,
            commands::sessions::session_stats,
            commands::sessions::list_environments,
            commands::environments::pick_image_archive,
            commands::environments::import_environment,
            commands::environments::remove_environment,
            commands::environments::pick_rootfs_directory,
            commands::environments::add_rootfs_environment,
            commands::sessions::resource_limits,
            commands::sessions::session_placements,
            commands::sessions::remember_placement,
            commands::sessions::check_session_name,
            commands::sessions::preview_mounts,
            commands::sessions::create_session,
            commands::sessions::session,
            commands::sessions::destroy_session,
            commands::sessions::session_logs,
            commands::terminals::open_terminal,
            commands::terminals::terminal_input,
            commands::terminals::resize_terminal,
            commands::terminals::acknowledge_terminal,
            commands::terminals::close_terminal,
            commands::terminals::terminal_webgl,
            commands::terminals::terminal_scrollback,
            commands::terminals::set_terminal_scrollback,
            commands::dotfiles::list_dotfiles,
            commands::dotfiles::check_dotfile_path,
            commands::dotfiles::set_dotfile,
            commands::dotfiles::remove_dotfile,
            commands::dotfiles::bootstrap_script,
            commands::dotfiles::set_bootstrap_script,
            commands::window::ui_ready,
            commands::window::request_quit,
            commands::window::quit_app,
        ])
        // The launcher checks variable names as they are typed, by the engines' own rules.
        .constant(
            "RESERVED_ENV_NAMES",
            berth_core::environ::RESERVED_ENV_NAMES.to_vec(),
        )
        .constant(
            "RESERVED_ENV_PREFIXES",
            berth_core::environ::RESERVED_ENV_PREFIXES.to_vec(),
        )
        .constant("MAX_ENV_NAME", berth_core::environ::MAX_ENV_NAME)
        // Settings checks the scrollback as it is typed, by the same cap Rust keeps.
        .constant("SCROLLBACK_MAX", settings::SCROLLBACK_MAX)
}

/// The TypeScript the UI imports, generated from the Rust command and model types.
pub fn typescript_bindings() -> Result<String, String> {
    ipc()
        .export_str(
            Typescript::default()
                .header("// Generated from Berth's Rust types by `make bindings`. Do not edit.\n// @ts-nocheck: the generator emits helpers this app does not use yet.\n/* eslint-disable */")
                // Sizes and timestamps fit well inside 2^53; plain numbers keep the UI simple.
                .bigint(BigIntExportBehavior::Number),
        )
        .map(constants_in_name_order)
        .map_err(|e| e.to_string())
}

/// tauri-specta keeps constants in a hash map, so each build would print them in another order
/// and the committed bindings would look stale at random; one constant per line, sorted, is stable.
fn constants_in_name_order(bindings: String) -> String {
    const START: &str = "/** user-defined constants **/\n";
    let Some(start) = bindings.find(START).map(|at| at + START.len()) else {
        return bindings;
    };
    let block_len = bindings[start..]
        .find("\n\n/**")
        .unwrap_or(bindings.len() - start);
    let block = &bindings[start..start + block_len];
    let mut lines: Vec<&str> = block.lines().collect();
    let leading_blank = lines.first().is_some_and(|line| line.is_empty());
    lines.retain(|line| !line.is_empty());
    lines.sort_unstable();
    let sorted = lines.join("\n");
    let sorted = if leading_blank {
        format!("\n{sorted}")
    } else {
        sorted
    };
    format!(
        "{}{sorted}{}",
        &bindings[..start],
        &bindings[start + block_len..]
    )
}

/// Opens the window on the local engine and runs until the user quits.
pub fn run() {
    // SAFETY: first thing the app does; no other thread exists yet.
    unsafe { web_process::prepare_environment() };
    let _ = commands::window::STARTED.set(std::time::Instant::now());
    let dirs = berth_local::DataDirs::resolve(None);
    let _log_guard = dirs
        .as_ref()
        .ok()
        .and_then(|dirs| logging::init(&dirs.logs));
    let single = dirs
        .as_ref()
        .ok()
        .and_then(|dirs| single_instance::plugin(&dirs.data));
    // Copies open in the user's editors live beside the data, where a crash leaves them
    // findable; the list of syncs is the one `berth sync` uses.
    let data_dir = match &dirs {
        Ok(dirs) => dirs.data.clone(),
        Err(_) => std::env::temp_dir().join("berth"),
    };
    let edit_copies_root = data_dir.join("edit-copies");
    let engine = ActiveEngine::open_local(dirs);
    let ipc = ipc();
    let mut builder = tauri::Builder::default();
    // First, so a second launch hands over before anything else starts.
    if let Some(single) = single {
        builder = builder.plugin(single);
    }
    let result = builder
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_deep_link::init())
        .manage(engine)
        .manage(commands::files::ExplorerWatch::default())
        .manage(commands::terminals::Terminals::default())
        .manage(quit_guard::BackgroundNotice::default())
        .manage(session_vitals::LocalVitals::default())
        .manage(launch_link::WaitingLinks::default())
        .manage(commands::ports::Ports::default())
        .manage(commands::syncs::Syncs::in_dir(data_dir))
        .invoke_handler(ipc.invoke_handler())
        .on_window_event(quit_guard::on_window_event)
        .setup(move |app| {
            use tauri::Manager;
            ipc.mount_events(app);
            app.manage(commands::edit_copies::edit_copies(
                app.handle(),
                edit_copies_root,
            ));
            tray::install(app);
            {
                use tauri_plugin_deep_link::DeepLinkExt;
                // An AppImage has no installer to register the scheme with the desktop.
                #[cfg(target_os = "linux")]
                if std::env::var_os("APPIMAGE").is_some()
                    && let Err(error) = app.deep_link().register_all()
                {
                    tracing::warn!(%error, "cannot register berth:// links with the desktop");
                }
                // The link Berth was started with (read from its arguments before this runs),
                // then every link opened while it runs.
                if let Ok(Some(urls)) = app.deep_link().get_current() {
                    launch_link::receive(app.handle(), urls.iter().map(|u| u.to_string()));
                }
                let handle = app.handle().clone();
                app.deep_link().on_open_url(move |event| {
                    launch_link::receive(&handle, event.urls().iter().map(|u| u.to_string()));
                });
            }
            let engine = app.state::<ActiveEngine>();
            engine.start_transfers();
            if let Ok(queue) = engine.transfers() {
                batch_notice::show_when_batches_finish(app.handle().clone(), queue);
            }
            if let (Ok(local), Ok(queue)) = (engine.this_computer(), engine.transfers()) {
                app.state::<commands::syncs::Syncs>().run_profile(
                    app.handle(),
                    "local",
                    local,
                    queue,
                );
            }
            if let Ok(local) = engine.this_computer() {
                let vitals = app.state::<session_vitals::LocalVitals>().0.clone();
                session_vitals::keep(app.handle().clone(), local, vitals);
            }
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(error) = result {
        tracing::error!(%error, "the app stopped with an error");
        eprintln!("Berth could not start: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The UI compiles against the committed bindings; this fails when a Rust command or type
    /// changed without regenerating them. `make bindings` (BERTH_UPDATE_BINDINGS=1) rewrites them.
    #[test]
    fn typescript_bindings_are_up_to_date() {
        let generated = typescript_bindings().expect("bindings export");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS_PATH);
        if std::env::var_os("BERTH_UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &generated).expect("write bindings");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is stale: run `make bindings` and commit the result",
            path.display()
        );
    }

    #[test]
    fn constants_print_in_the_same_order_whatever_order_they_were_kept_in() {
        let around = |constants: &str| {
            format!(
                "head\n/** user-defined constants **/\n\n{constants}\n\n/** user-defined types **/\ntail"
            )
        };
        let one = around("export const B = 1 as const;\nexport const A = 2 as const;");
        let other = around("export const A = 2 as const;\nexport const B = 1 as const;");
        assert_eq!(constants_in_name_order(one), other);
        assert_eq!(constants_in_name_order(other.clone()), other);
    }

    #[test]
    fn bindings_carry_the_error_shape_the_ui_branches_on() {
        let generated = typescript_bindings().expect("bindings export");
        assert!(
            generated.contains("export type BerthError = { code: ErrorCode; message: string }"),
            "{generated}"
        );
        assert!(generated.contains("\"engine_unavailable\""));
    }
}
