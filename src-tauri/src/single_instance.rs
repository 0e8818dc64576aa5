//! One Berth per data directory: launching it again (from the desktop's menu, or because the
//! window was closed into a tray icon this desktop does not show) brings the running window
//! back, instead of a second app working on the same catalog and transfer journal.

use std::hash::{Hash, Hasher};
use std::path::Path;

use tauri::Runtime;
use tauri::plugin::TauriPlugin;

use crate::quit_guard;

/// The plugin for `data_dir`, or `None` where it cannot work: on Linux it talks D-Bus and
/// panics without a session bus (a bare X session, a CI box), and Berth must start there too.
pub fn plugin<R: Runtime>(data_dir: &Path) -> Option<TauriPlugin<R>> {
    if !session_bus_present() {
        tracing::info!("no D-Bus session bus: a second launch opens a second window");
        return None;
    }
    Some(
        tauri_plugin_single_instance::Builder::new()
            .dbus_id(bus_name(data_dir))
            .callback(|app, _args, _cwd| quit_guard::show_window(app))
            .build(),
    )
}

/// A D-Bus name per data directory, so test runs and portable installs with their own data
/// never mistake each other for "already running".
fn bus_name(data_dir: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    format!("io.berth.app.d{:016x}", hasher.finish())
}

#[cfg(target_os = "linux")]
fn session_bus_present() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
        || std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|dir| Path::new(&dir).join("bus").exists())
}

#[cfg(not(target_os = "linux"))]
fn session_bus_present() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_data_directory_has_its_own_valid_bus_name() {
        let a = bus_name(Path::new("/home/u/.local/share/Berth"));
        let b = bus_name(Path::new("/tmp/berth-e2e-x/data"));
        assert_ne!(a, b);
        assert_eq!(a, bus_name(Path::new("/home/u/.local/share/Berth")));
        // D-Bus: dot-separated elements of [A-Za-z0-9_-], none starting with a digit.
        for element in a.split('.') {
            assert!(!element.starts_with(|c: char| c.is_ascii_digit()), "{a}");
            assert!(
                element
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{a}"
            );
        }
    }
}
