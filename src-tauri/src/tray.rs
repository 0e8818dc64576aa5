//! The tray icon: Berth's way back when its window is closed while sessions or transfers
//! run. Its menu shows the window or quits (asking first, see `quit_guard`). Desktops without
//! a tray host (GNOME without an extension, Xvfb) simply show no icon; nothing depends on it.

use tauri::menu::{MenuBuilder, MenuEvent};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{App, AppHandle, Runtime};

use crate::quit_guard;

const SHOW: &str = "show";
const QUIT: &str = "quit";

/// Adds the tray icon. Errors are logged, never fatal: the window works without a tray.
pub fn install<R: Runtime>(app: &App<R>) {
    if let Err(error) = build(app) {
        tracing::warn!(%error, "no tray icon");
    }
}

fn build<R: Runtime>(app: &App<R>) -> tauri::Result<()> {
    let menu = MenuBuilder::new(app)
        .text(SHOW, "Show Berth")
        .separator()
        .text(QUIT, "Quit Berth")
        .build()?;
    let mut tray = TrayIconBuilder::with_id("berth")
        .tooltip("Berth")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(on_menu)
        .on_tray_icon_event(|tray, event| {
            // Platforms that report clicks (Windows, macOS): a left click brings the window.
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                quit_guard::show_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon().cloned() {
        tray = tray.icon(icon);
    }
    tray.build(app)?;
    Ok(())
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    match event.id().as_ref() {
        SHOW => quit_guard::show_window(app),
        QUIT => {
            let app = app.clone();
            tauri::async_runtime::spawn(quit_guard::request_quit(app));
        }
        _ => {}
    }
}
