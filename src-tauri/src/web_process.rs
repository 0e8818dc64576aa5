//! Settings for WebKitGTK's web process that neither Tauri nor wry exposes. The web process
//! inherits this process's environment, and JavaScriptCore reads `JSC_<option>` variables when
//! it starts, so they are set here before the first webview exists.

/// JavaScriptCore grows its heap for speed rather than memory on machines with 16 GB of RAM or
/// more ("aggressive" growth: the heap may grow to several times what is live, and collections
/// are put off while they come often). A terminal streaming output makes garbage at hundreds of
/// MB/s: with that growth the heap peaked at 170–440 MB during a 200 MB `cat`, and in two or
/// three rounds of ten the web process kept +130..+290 MiB afterwards, until the next burst.
/// With the growth JSC uses on smaller machines the heap peaked at ≤ 67 MB, no round kept more
/// than +41 MiB, and the `cat` was as fast (`scripts/bench-terminal`; JSC_logGC=1 shows the
/// heap). A threshold of 1 TiB of RAM means "never aggressive" on any desktop.
#[cfg(target_os = "linux")]
const OPTIONS: &[(&str, &str)] = &[("JSC_aggressiveHeapThresholdInMB", "1048576")];

/// The options to set: those the user has not set already (theirs win, for experiments).
#[cfg(target_os = "linux")]
fn unset_options(
    current: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Vec<(&'static str, &'static str)> {
    OPTIONS
        .iter()
        .copied()
        .filter(|(name, _)| current(name).is_none())
        .collect()
}

/// Puts the web process's options into this process's environment.
///
/// # Safety
/// Must run before any other thread exists (the environment is not thread-safe to change):
/// first thing in `run`, before logging starts its writer thread.
pub unsafe fn prepare_environment() {
    #[cfg(target_os = "linux")]
    for (name, value) in unset_options(|name| std::env::var_os(name)) {
        // SAFETY: the caller guarantees no other thread is running.
        unsafe { std::env::set_var(name, value) };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_set_when_the_user_set_none() {
        assert_eq!(unset_options(|_| None), OPTIONS.to_vec());
    }

    #[test]
    fn a_value_the_user_set_is_kept() {
        let set = unset_options(|name| {
            (name == "JSC_aggressiveHeapThresholdInMB").then(|| "16384".into())
        });
        assert!(
            set.iter()
                .all(|(name, _)| *name != "JSC_aggressiveHeapThresholdInMB")
        );
    }
}
