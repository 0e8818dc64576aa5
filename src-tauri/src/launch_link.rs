//! `berth://launch?template=NAME` links (a wiki page, a chat message, a teammate's README):
//! the window comes forward with the launcher open on that template's review step. A link
//! never launches anything: the user's click on Launch does. The OS hands the link to Berth
//! when it starts, or to the running Berth through the single-instance plugin; either way it
//! waits here until the window takes it, so a link that arrives before the page has loaded is
//! not lost.

use std::sync::Mutex;

use berth_core::template::validate_template_name;
use tauri::{AppHandle, Manager, Url};
use tauri_specta::Event;

/// What a link asks for, or why it was refused, as the window acts on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LaunchLink {
    /// Open the launcher with this template.
    Template { name: String },
    /// Not a link Berth follows; the message says what is wrong with it.
    Refused { link: String, message: String },
}

/// Sent when links are waiting; the window takes them with `take_launch_links`.
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct LaunchLinksWaiting;

/// Links received and not yet taken by the window.
#[derive(Default)]
pub struct WaitingLinks(Mutex<Vec<LaunchLink>>);

/// Reads a link. Only `berth://launch?template=NAME` is followed, NAME a template name; the
/// link text is shortened in refusals (it came from outside and may be anything).
pub fn read(link: &str) -> LaunchLink {
    let shown: String = link.chars().take(120).collect();
    let refuse = |message: String| LaunchLink::Refused {
        link: shown.clone(),
        message,
    };
    let Ok(url) = Url::parse(link) else {
        return refuse("It is not a link Berth can read.".into());
    };
    if url.scheme() != "berth" || url.host_str() != Some("launch") {
        return refuse(
            "Berth follows only berth://launch?template=NAME links, which open the launcher \
             with a saved template."
                .into(),
        );
    }
    let mut names = url
        .query_pairs()
        .filter(|(key, _)| key == "template")
        .map(|(_, value)| value.into_owned());
    match (names.next(), names.next()) {
        (Some(name), None) => match validate_template_name(&name) {
            Ok(()) => LaunchLink::Template { name },
            Err(error) => refuse(error.message),
        },
        (None, _) => refuse("The link names no template: add ?template=NAME.".into()),
        (Some(_), Some(_)) => refuse("The link names more than one template.".into()),
    }
}

/// Keeps `links` for the window, tells it, and brings it forward.
pub fn receive(app: &AppHandle, links: impl IntoIterator<Item = String>) {
    let read: Vec<LaunchLink> = links.into_iter().map(|link| read(&link)).collect();
    if read.is_empty() {
        return;
    }
    tracing::info!(links = ?read, "launch links received");
    app.state::<WaitingLinks>()
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(read);
    crate::quit_guard::show_window(app);
    if let Err(error) = LaunchLinksWaiting.emit(app) {
        tracing::warn!(%error, "cannot tell the window a link came");
    }
}

/// The links waiting for the window, oldest first; taking them empties the list.
#[tauri::command]
#[specta::specta]
pub fn take_launch_links(waiting: tauri::State<'_, WaitingLinks>) -> Vec<LaunchLink> {
    std::mem::take(&mut *waiting.0.lock().unwrap_or_else(|p| p.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_launch_links_naming_one_valid_template_are_followed() {
        assert_eq!(
            read("berth://launch?template=nightly-train"),
            LaunchLink::Template {
                name: "nightly-train".into()
            }
        );
        assert_eq!(
            read("berth://launch?template=gpu%2Etrain"),
            LaunchLink::Template {
                name: "gpu.train".into()
            }
        );
        for (link, words) in [
            ("berth://launch?template=..%2F..%2Fetc", "Template name"),
            ("berth://launch", "names no template"),
            ("berth://launch?template=a&template=b", "more than one"),
            ("berth://destroy?session=x", "only berth://launch"),
            ("https://launch?template=x", "only berth://launch"),
            ("not a link", "not a link Berth can read"),
        ] {
            match read(link) {
                LaunchLink::Refused { message, .. } => {
                    assert!(message.contains(words), "{link}: {message}");
                }
                other => panic!("{link} was followed: {other:?}"),
            }
        }
    }
}
