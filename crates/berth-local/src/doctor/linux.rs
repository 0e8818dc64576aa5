//! Linux checks: bubblewrap, unprivileged user namespaces, and a real sandbox start with the
//! namespaces and options a session uses.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CheckId, Finding};

/// `--disable-userns` (which keeps sessions from nesting namespaces) arrived in bubblewrap 0.8.
const MIN_BWRAP: (u32, u32) = (0, 8);
const INSTALL_BWRAP: &str = "Install bubblewrap 0.8 or newer: sudo apt-get install bubblewrap (Fedora: sudo dnf install bubblewrap).";
/// Sessions never hold host root: when Berth runs as root they run as this unprivileged uid,
/// so the probe does too.
const UNPRIVILEGED_ID: libc::uid_t = 65534;
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn examine() -> Vec<Finding> {
    let userns = user_namespaces();
    let (bwrap, version_ok, bwrap_finding) = match find_on_path("bwrap") {
        None => (
            None,
            false,
            Finding::fail(
                CheckId::Bubblewrap,
                "bwrap is not installed (not found on PATH)",
                INSTALL_BWRAP,
            ),
        ),
        Some(path) => {
            let version = bwrap_version(&path).await;
            let finding = match version {
                Some((major, minor, ref text)) if (major, minor) >= MIN_BWRAP => {
                    Finding::ok(CheckId::Bubblewrap, format!("{text} at {}", path.display()))
                }
                Some((_, _, text)) => Finding::fail(
                    CheckId::Bubblewrap,
                    format!(
                        "{text} at {} is too old for Berth's sandbox",
                        path.display()
                    ),
                    INSTALL_BWRAP,
                ),
                None => Finding::fail(
                    CheckId::Bubblewrap,
                    format!("{} does not answer --version", path.display()),
                    INSTALL_BWRAP,
                ),
            };
            let ok = finding.verdict == super::Verdict::Ok;
            (Some(path), ok, finding)
        }
    };
    let sandbox = match bwrap {
        Some(path) if version_ok => start_sandbox(&path, &userns).await,
        _ => Finding::fail(
            CheckId::Sandbox,
            "not attempted: bubblewrap is missing or too old",
            INSTALL_BWRAP,
        ),
    };
    vec![bwrap_finding, userns, sandbox, session_network()]
}

/// Outbound networking needs slirp4netns, and a TUN device the session user may open (as root,
/// Berth makes a private one; a user needs the host's to be 0666, udev's default).
fn session_network() -> Finding {
    use std::os::unix::fs::PermissionsExt;
    const INSTALL: &str =
        "sudo apt-get install slirp4netns (sessions can still run with no network)";
    let Some(tool) = find_on_path("slirp4netns") else {
        return Finding::warn(
            CheckId::SessionNetwork,
            "slirp4netns is not installed: sessions can only run without network",
            INSTALL,
        );
    };
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let tun = std::fs::metadata("/dev/net/tun").map(|m| m.permissions().mode() & 0o777);
    match tun {
        Ok(mode) if root || mode & 0o006 == 0o006 => Finding::ok(
            CheckId::SessionNetwork,
            format!("{} gives sessions outbound network", tool.display()),
        ),
        Ok(mode) => Finding::warn(
            CheckId::SessionNetwork,
            format!("/dev/net/tun is {mode:04o}, so your sessions cannot have network"),
            "sudo chmod 0666 /dev/net/tun (udev's usual mode), or run sessions with no network",
        ),
        Err(_) => Finding::warn(
            CheckId::SessionNetwork,
            "/dev/net/tun is missing, so sessions cannot have network",
            "load the tun kernel module (sudo modprobe tun), or run sessions with no network",
        ),
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `bubblewrap 0.8.0` → (0, 8, "bubblewrap 0.8.0").
async fn bwrap_version(bwrap: &Path) -> Option<(u32, u32, String)> {
    let run = tokio::process::Command::new(bwrap)
        .arg("--version")
        .output();
    let output = tokio::time::timeout(PROBE_TIMEOUT, run).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    parse_version(&text).map(|(major, minor)| (major, minor, text))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let number = text.split_whitespace().nth(1)?;
    let mut parts = number.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether an unprivileged process may create a user namespace, tried for real in a forked
/// child (which drops root first when Berth runs as root).
fn user_namespaces() -> Finding {
    match try_unprivileged_unshare() {
        Ok(()) => Finding::ok(
            CheckId::UserNamespaces,
            "unprivileged user namespaces are allowed",
        ),
        Err(errno) => {
            let (why, fix) = userns_blocker();
            Finding::fail(
                CheckId::UserNamespaces,
                format!(
                    "an unprivileged process cannot create a user namespace ({}){why}",
                    std::io::Error::from_raw_os_error(errno)
                ),
                fix,
            )
        }
    }
}

/// Names the sysctl that blocks user namespaces on this kernel, with the command that lifts it.
fn userns_blocker() -> (String, String) {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return (
            ": kernel.unprivileged_userns_clone is 0".into(),
            "sudo sysctl -w kernel.unprivileged_userns_clone=1 (and add it to /etc/sysctl.d/ to keep it)".into(),
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return (
            ": AppArmor restricts unprivileged user namespaces".into(),
            "Install your distribution's AppArmor profile for bwrap, or use the Docker-API runtime (Docker or Podman).".into(),
        );
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return (
            ": user.max_user_namespaces is 0".into(),
            "sudo sysctl -w user.max_user_namespaces=15000".into(),
        );
    }
    (String::new(), "Enable unprivileged user namespaces in the kernel, or use the Docker-API runtime (Docker or Podman).".into())
}

fn try_unprivileged_unshare() -> Result<(), i32> {
    // SAFETY: between fork and _exit the child makes only raw syscalls (no allocation, no
    // locks), which is what is allowed after fork in a multi-threaded process.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return Err(*libc::__errno_location());
        }
        if pid == 0 {
            if libc::geteuid() == 0
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(UNPRIVILEGED_ID) != 0
                    || libc::setuid(UNPRIVILEGED_ID) != 0)
            {
                libc::_exit(255);
            }
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                libc::_exit(*libc::__errno_location() & 0x7f);
            }
            libc::_exit(0);
        }
        let mut status = 0;
        if libc::waitpid(pid, &mut status, 0) < 0 {
            return Err(*libc::__errno_location());
        }
        match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
            Some(0) => Ok(()),
            Some(255) | None => Err(libc::EPERM),
            Some(errno) => Err(errno),
        }
    }
}

/// Starts `true` in a sandbox with a session's namespaces and options, as the uid a session
/// would run as.
async fn start_sandbox(bwrap: &Path, userns: &Finding) -> Finding {
    let mut command = tokio::process::Command::new(bwrap);
    command
        .args(sandbox_probe_args())
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    // SAFETY: the closure only makes raw syscalls, allowed between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::geteuid() == 0
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(UNPRIVILEGED_ID) != 0
                    || libc::setuid(UNPRIVILEGED_ID) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, command.output()).await;
    let elapsed = started.elapsed();
    let fix_for = |stderr: &str| {
        if userns.verdict != super::Verdict::Ok {
            userns.fix.clone().unwrap_or_default()
        } else {
            format!("bubblewrap refused to start a sandbox: {}", stderr.trim())
        }
    };
    match outcome {
        Err(_) => Finding::fail(
            CheckId::Sandbox,
            format!(
                "a sandbox did not exit within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
            "Check that bwrap runs by hand: bwrap --ro-bind /usr /usr --symlink usr/bin /bin true",
        ),
        Ok(Err(e)) => Finding::fail(
            CheckId::Sandbox,
            format!("could not run bwrap: {e}"),
            INSTALL_BWRAP,
        ),
        Ok(Ok(output)) if output.status.success() => Finding::ok(
            CheckId::Sandbox,
            format!("a sandbox started and exited in {} ms", elapsed.as_millis()),
        ),
        Ok(Ok(output)) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Finding::fail(
                CheckId::Sandbox,
                format!("bwrap failed ({}): {}", output.status, first_line(&stderr)),
                fix_for(&stderr),
            )
        }
    }
}

fn sandbox_probe_args() -> Vec<&'static OsStr> {
    [
        "--unshare-user",
        "--uid",
        "1000",
        "--gid",
        "1000",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/sbin",
        "/sbin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/home/work",
        "--chdir",
        "/home/work",
        "--clearenv",
        "--",
        "/usr/bin/true",
    ]
    .into_iter()
    .map(OsStr::new)
    .collect()
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_bwrap_output() {
        assert_eq!(parse_version("bubblewrap 0.8.0"), Some((0, 8)));
        assert_eq!(parse_version("bubblewrap 0.11.1"), Some((0, 11)));
        assert_eq!(parse_version("garbage"), None);
    }
}
