//! What the machine draws with, for choices the webview cannot make itself: WebKit reports
//! every GPU as "Apple GPU" to web content, so a page cannot tell a real GPU from llvmpipe.

/// Whether a GPU is there to draw WebGL. On Linux that means a DRM render node; without one,
/// Mesa draws in software (VMs, remote desktops, Xvfb), where xterm.js's WebGL renderer is
/// several times slower than its DOM renderer. Elsewhere the OS always has a GPU path.
pub fn gpu_present() -> bool {
    #[cfg(target_os = "linux")]
    {
        if std::env::var_os("LIBGL_ALWAYS_SOFTWARE").is_some_and(|v| v != "0") {
            return false;
        }
        std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
    }
    #[cfg(not(target_os = "linux"))]
    true
}
