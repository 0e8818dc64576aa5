//! The bubblewrap command line of a session (`local-sandbox.md`): namespaces, the environment's
//! system (read-only, or from a throwaway writable overlay of it), a curated `/etc`, a
//! size-bounded scratch `/home/work`, and each folder bound by descriptor at its planned target.
//! Pure: the tests read the arguments back.

use std::os::fd::RawFd;
use std::path::Path;

use berth_core::{NetworkMode, PlannedMount};

use crate::environments::SystemRoot;

/// The session user's id inside: Backend.AI's `work` user.
pub const SESSION_UID: u32 = 1000;

/// Files Berth writes for each session and binds over the shared `/etc`.
pub const GENERATED_ETC: &[&str] = &["hostname", "hosts", "resolv.conf"];

/// slirp4netns's DNS forwarder, as seen from inside the session.
pub const SLIRP_DNS: &str = "10.0.2.3";

pub struct SandboxSpec<'a> {
    pub hostname: &'a str,
    /// Where `/usr` and the rest of the system come from.
    pub system: &'a SystemRoot,
    /// A root file system's writable overlay (see `supervisor::protocol::WritableRoot`): its
    /// merged view, bound instead of the read-only directory. Its top level is the same as
    /// the directory's, which is read here.
    pub writable_root: Option<&'a Path>,
    /// The curated `/etc` shared by sessions (see `etc.rs`).
    pub shared_etc: &'a Path,
    /// Where this session's [`GENERATED_ETC`] were written.
    pub etc_dir: &'a Path,
    pub scratch_bytes: u64,
    pub network: NetworkMode,
    /// Each folder's open descriptor and its place; parents before children.
    pub mounts: &'a [(RawFd, &'a PlannedMount)],
    pub env: &'a [(String, String)],
}

/// Top-level host directories that are links into `/usr` on a merged-`/usr` system, or real
/// directories on an older one.
fn system_roots(args: &mut Vec<String>) {
    for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(name);
        match std::fs::read_link(&host) {
            Ok(target) => push(
                args,
                &["--symlink", &target.to_string_lossy(), &format!("/{name}")],
            ),
            Err(_) if host.is_dir() => push(
                args,
                &["--ro-bind", &format!("/{name}"), &format!("/{name}")],
            ),
            Err(_) => {}
        }
    }
}

/// A root file system's top level, except what every session gets fresh (`/proc`, `/dev`,
/// `/tmp`, `/run`, `/home`) and `/etc`, which is curated: read-only, or writable from
/// `writable`, the merged view of an overlay of `root`. Bound entry by entry onto bwrap's own
/// root, so mount points for folders can still be made there.
fn image_roots(args: &mut Vec<String>, root: &Path, writable: Option<&Path>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        if ["proc", "dev", "sys", "tmp", "run", "home", "etc"].contains(&name.as_str()) {
            continue;
        }
        let target = format!("/{name}");
        match (std::fs::read_link(root.join(&name)), writable) {
            (Ok(link), _) => push(args, &["--symlink", &link.to_string_lossy(), &target]),
            (Err(_), Some(merged)) => push(
                args,
                &["--bind", &merged.join(&name).to_string_lossy(), &target],
            ),
            (Err(_), None) => push(
                args,
                &["--ro-bind", &root.join(&name).to_string_lossy(), &target],
            ),
        }
    }
}

fn push(args: &mut Vec<String>, items: &[&str]) {
    args.extend(items.iter().map(|s| (*s).to_owned()));
}

/// Everything before the command.
pub fn arguments(spec: &SandboxSpec<'_>) -> Vec<String> {
    let uid = SESSION_UID.to_string();
    let mut args = Vec::new();
    push(
        &mut args,
        &[
            "--unshare-user",
            "--uid",
            &uid,
            "--gid",
            &uid,
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--disable-userns",
            "--die-with-parent",
            "--hostname",
            spec.hostname,
        ],
    );
    if spec.network != NetworkMode::Host {
        args.push("--unshare-net".into());
    }
    match spec.system {
        SystemRoot::Host => {
            push(&mut args, &["--ro-bind", "/usr", "/usr"]);
            system_roots(&mut args);
        }
        SystemRoot::Directory(root) => image_roots(&mut args, root, spec.writable_root),
    }
    push(
        &mut args,
        &["--ro-bind", &spec.shared_etc.to_string_lossy(), "/etc"],
    );
    let generated: &[&str] = match spec.network {
        // The host's own resolver configuration, as the host uses it.
        NetworkMode::Host => {
            push(
                &mut args,
                &["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"],
            );
            &GENERATED_ETC[..2]
        }
        NetworkMode::Outbound => GENERATED_ETC,
        NetworkMode::None => &GENERATED_ETC[..2],
    };
    for file in generated {
        let source = spec.etc_dir.join(file);
        push(
            &mut args,
            &[
                "--ro-bind",
                &source.to_string_lossy(),
                &format!("/etc/{file}"),
            ],
        );
    }
    let size = spec.scratch_bytes.to_string();
    push(
        &mut args,
        &[
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            &size,
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/run",
            "--size",
            &size,
            "--tmpfs",
            "/home/work",
        ],
    );
    for (fd, mount) in spec.mounts {
        let flag = if mount.read_only {
            "--ro-bind-fd"
        } else {
            "--bind-fd"
        };
        push(&mut args, &[flag, &fd.to_string(), &mount.target]);
    }
    push(&mut args, &["--chdir", "/home/work", "--clearenv"]);
    for (key, value) in spec.env {
        push(&mut args, &["--setenv", key, value]);
    }
    args
}

/// The session's `hostname`, `hosts` and `resolv.conf`, in [`GENERATED_ETC`] order.
pub fn generated_etc(hostname: &str) -> [String; 3] {
    [
        format!("{hostname}\n"),
        format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
        format!("nameserver {SLIRP_DNS}\n"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(target: &str, read_only: bool) -> PlannedMount {
        PlannedMount {
            folder_id: "f".into(),
            folder_name: "f".into(),
            target: target.into(),
            read_only,
            automount: false,
        }
    }

    fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn folders_are_bound_by_descriptor_after_the_scratch_home() {
        let a = mount("/home/work/a", false);
        let b = mount("/data", true);
        let mounts = [(7, &a), (8, &b)];
        let args = arguments(&SandboxSpec {
            hostname: "s1",
            system: &SystemRoot::Host,
            writable_root: None,
            shared_etc: Path::new("/run/etc-1"),
            etc_dir: Path::new("/run/x/etc"),
            scratch_bytes: 1 << 30,
            network: NetworkMode::None,
            mounts: &mounts,
            env: &[("HOME".into(), "/home/work".into())],
        });
        let joined = args.join(" ");
        assert!(joined.contains("--bind-fd 7 /home/work/a"), "{joined}");
        assert!(joined.contains("--ro-bind-fd 8 /data"), "{joined}");
        let home = joined.find("--tmpfs /home/work").unwrap();
        assert!(
            home < joined.find("--bind-fd 7").unwrap(),
            "scratch first: {joined}"
        );
        assert!(joined.contains("--size 1073741824 --tmpfs /home/work"));
        for isolation in [
            "--unshare-net",
            "--disable-userns",
            "--die-with-parent",
            "--unshare-pid",
        ] {
            assert!(args.iter().any(|a| a == isolation), "{isolation} missing");
        }
        assert_eq!(after(&args, "--uid"), ["1000"]);
        // Never the host's /etc: the curated copy, with this session's host name.
        assert!(!after(&args, "--ro-bind").contains(&"/etc"));
        assert!(joined.contains("--ro-bind /run/etc-1 /etc"), "{joined}");
        assert!(
            joined.contains("--ro-bind /run/x/etc/hostname /etc/hostname"),
            "{joined}"
        );
    }

    #[test]
    fn a_root_file_system_is_bound_read_only_or_from_its_writable_overlay() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["usr", "opt", "etc", "proc", "home"] {
            std::fs::create_dir(root.path().join(dir)).unwrap();
        }
        std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).unwrap();
        std::fs::write(root.path().join("hello.txt"), "hi").unwrap();
        let system = SystemRoot::Directory(root.path().to_path_buf());
        let args_with = |writable_root: Option<&Path>| {
            arguments(&SandboxSpec {
                hostname: "s1",
                system: &system,
                writable_root,
                shared_etc: Path::new("/run/etc-1"),
                etc_dir: Path::new("/e"),
                scratch_bytes: 1,
                network: NetworkMode::None,
                mounts: &[],
                env: &[],
            })
            .join(" ")
        };
        let lower = root.path().display();
        let read_only = args_with(None);
        for entry in ["usr", "opt", "hello.txt"] {
            assert!(
                read_only.contains(&format!("--ro-bind {lower}/{entry} /{entry}")),
                "{read_only}"
            );
        }
        let writable = args_with(Some(Path::new("/run/s/overlay/merged")));
        for entry in ["usr", "opt", "hello.txt"] {
            assert!(
                writable.contains(&format!("--bind /run/s/overlay/merged/{entry} /{entry}")),
                "{writable}"
            );
        }
        for args in [&read_only, &writable] {
            assert!(args.contains("--symlink usr/bin /bin"), "{args}");
            // Fresh or curated in every session, never the environment's own.
            for fresh in ["etc", "proc", "home"] {
                assert!(
                    !args.contains(&format!("/{fresh} /{fresh}")),
                    "{fresh}: {args}"
                );
            }
        }
        assert!(!writable.contains(&lower.to_string()), "{writable}");
    }

    #[test]
    fn host_network_is_explicit_and_brings_resolv_conf() {
        let args = arguments(&SandboxSpec {
            hostname: "s1",
            system: &SystemRoot::Host,
            writable_root: None,
            shared_etc: Path::new("/run/etc-1"),
            etc_dir: Path::new("/e"),
            scratch_bytes: 1,
            network: NetworkMode::Host,
            mounts: &[],
            env: &[],
        });
        assert!(!args.iter().any(|a| a == "--unshare-net"));
        assert!(after(&args, "--ro-bind-try").contains(&"/etc/resolv.conf"));
    }
}
