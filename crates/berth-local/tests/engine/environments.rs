//! Environments: an image made offline from this machine's own binaries, packed the way
//! `docker save` packs it, imported, and run; archives built to attack the importer refused
//! with nothing written outside the target; each session's throwaway writable copy of its
//! environment, and nothing of it left once the session is gone.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_core::{Engine, EnvironmentKind, ErrorCode, MountRequest, NewFolder, NewSession};
use berth_local::supervisor::client::finish_exec;

use crate::{Running, engine, runtime};

/// A tar entry whose name is written byte for byte: the tar crate's own setters refuse `..` and
/// absolute names, and the hostile archives below need exactly those.
pub fn raw_entry(
    builder: &mut tar::Builder<impl Write>,
    name: &str,
    kind: tar::EntryType,
    link: Option<&str>,
    data: &[u8],
) {
    let mut header = tar::Header::new_gnu();
    let gnu = header.as_gnu_mut().unwrap();
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o755);
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

pub fn file(builder: &mut tar::Builder<impl Write>, name: &str, data: &[u8]) {
    raw_entry(builder, name, tar::EntryType::Regular, None, data);
}

fn directory(builder: &mut tar::Builder<impl Write>, name: &str, mode: u32) {
    let mut header = tar::Header::new_gnu();
    header.set_path(name).unwrap();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(mode);
    header.set_size(0);
    header.set_cksum();
    builder.append(&header, &[][..]).unwrap();
}

/// The programs the image needs and every library they load, at their real paths.
pub fn host_files() -> Vec<PathBuf> {
    let programs = [
        "dash", "bash", "sleep", "cat", "ls", "id", "test", "touch", "cp", "tr", "rm", "grep",
    ]
    .map(|p| Path::new("/usr/bin").join(p));
    with_libraries(&programs)
}

/// `programs` and the shared libraries they load (each as linked and as the file it names).
fn with_libraries(programs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = programs.to_vec();
    for program in programs {
        let ldd = std::process::Command::new("ldd")
            .arg(program)
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            if let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) {
                files.push(std::fs::canonicalize(path).unwrap());
                files.push(PathBuf::from(path));
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

pub fn layer(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    build(&mut builder);
    builder.into_inner().unwrap()
}

/// A `docker save` archive: manifest.json naming the layers, bottom first.
fn docker_save(path: &Path, layers: Vec<Vec<u8>>) {
    let mut archive = tar::Builder::new(std::fs::File::create(path).unwrap());
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest =
        serde_json::json!([{ "Config": "config.json", "RepoTags": ["test:1"], "Layers": names }]);
    file(
        &mut archive,
        "manifest.json",
        manifest.to_string().as_bytes(),
    );
    file(&mut archive, "config.json", b"{}");
    for (name, bytes) in names.iter().zip(layers) {
        file(&mut archive, name, &bytes);
    }
    archive.finish().unwrap();
}

/// A root file system with a shell and a few programs from this machine, as one tar layer.
pub fn base_layer() -> Vec<u8> {
    base_layer_with(Vec::new())
}

/// Perl (the base one: its own modules, sockets included) and what it links — a program for a
/// server inside a session whose image has no Python — and OpenSSH's `sftp-server`.
pub fn perl_and_sftp_files() -> Vec<PathBuf> {
    let mut files = with_libraries(&[
        PathBuf::from("/usr/bin/perl"),
        PathBuf::from("/usr/lib/openssh/sftp-server"),
    ]);
    let mut pending = vec![PathBuf::from("/usr/lib/x86_64-linux-gnu/perl-base")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}

/// This machine's Python (3.11 on Debian 12) with its standard library, and what its
/// extension modules load: an image that can run JupyterLab installed into a folder. Tests,
/// the IDE and Tk are left out (half the library's size, nothing a server needs).
pub fn python_files() -> Vec<PathBuf> {
    let library = Path::new("/usr/lib/python3.11");
    let skipped = [
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "__pycache__",
    ];
    let (mut modules, mut files) = (Vec::new(), Vec::new());
    let mut pending = vec![library.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            let name = entry.file_name();
            if kind.is_dir() && !skipped.iter().any(|s| name == *s) {
                pending.push(entry.path());
            } else if kind.is_file() {
                if name.to_string_lossy().ends_with(".so") {
                    modules.push(entry.path());
                }
                files.push(entry.path());
            }
        }
    }
    modules.push(PathBuf::from("/usr/bin/python3.11"));
    files.extend(with_libraries(&modules));
    // The rest of glibc and the C++ runtime, as in every Debian image: packages' binary
    // wheels (pyzmq's) load them.
    for library in [
        "librt.so.1",
        "libpthread.so.0",
        "libdl.so.2",
        "libstdc++.so.6",
        "libgcc_s.so.1",
    ] {
        let linked = Path::new("/usr/lib/x86_64-linux-gnu").join(library);
        files.push(std::fs::canonicalize(&linked).unwrap());
        files.push(linked);
    }
    files.push(PathBuf::from("/usr/bin/python3"));
    files
}

/// [`base_layer`] with `extra` files of this machine at the same paths.
pub fn base_layer_with(extra: Vec<PathBuf>) -> Vec<u8> {
    layer(|b| {
        for dir in [
            "usr",
            "usr/bin",
            "usr/lib",
            "usr/lib64",
            "usr/lib/x86_64-linux-gnu",
            "etc",
            "opaque",
        ] {
            raw_entry(b, &format!("{dir}/"), tar::EntryType::Directory, None, b"");
        }
        for link in ["bin", "lib", "lib64", "sbin"] {
            raw_entry(
                b,
                link,
                tar::EntryType::Symlink,
                Some(&format!("usr/{link}")),
                b"",
            );
        }
        let mut written = std::collections::HashSet::new();
        for host in host_files().into_iter().chain(extra) {
            let inside = host.to_string_lossy().trim_start_matches('/').to_owned();
            // /lib/... and /lib64/... are links into /usr on the host and in the image.
            let inside = match inside.split_once('/') {
                Some(("lib" | "lib64" | "bin" | "sbin", _)) => format!("usr/{inside}"),
                _ => inside,
            };
            // /lib/x/libc.so.6 and /usr/lib/x/libc.so.6 are one file in the image.
            if written.insert(inside.clone()) {
                file(b, &inside, &std::fs::read(&host).unwrap());
            }
        }
        raw_entry(b, "usr/bin/sh", tar::EntryType::Symlink, Some("dash"), b"");
        file(b, "etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
        file(b, "etc/removed-later", b"lower layer");
        file(b, "opaque/a", b"a");
        file(b, "opaque/b", b"b");
    })
}

fn good_image(path: &Path) {
    let base = base_layer();
    let upper = layer(|b| {
        file(b, "etc/.wh.removed-later", b"");
        file(b, "opaque/c", b"c");
        file(b, "opaque/.wh..wh..opq", b"");
        file(b, "hello.txt", b"from the image\n");
        directory(b, "var/", 0o755);
        directory(b, "var/tmp/", 0o1777);
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&upper).unwrap();
    docker_save(path, vec![base, gz.finish().unwrap()]);
}

#[test]
fn an_imported_image_runs_sessions_with_its_own_system_and_our_rules() {
    let fixture = engine();
    let rt = runtime();
    let archive = fixture.root.path().join("tiny.tar");
    good_image(&archive);
    let environment = fixture.engine.import_image(&archive, Some("tiny")).unwrap();
    assert_eq!(environment.kind, EnvironmentKind::Image);
    let listed = rt.block_on(fixture.engine.list_environments()).unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["host", environment.id.as_str()]
    );

    rt.block_on(fixture.engine.create_folder(NewFolder::named("data")))
        .unwrap();
    let session = rt
        .block_on(fixture.engine.create_session(NewSession::interactive(
            "tiny",
            vec![MountRequest {
                folder: "data".into(),
                alias: Some("/workspace".into()),
                access: None,
            }],
        )))
        .unwrap();
    let (_, client) = fixture.engine.session_client(&session.id).unwrap();
    // The image's 1777 /var/tmp is writable in the session's throwaway system; whether
    // /hello.txt is depends on who owns it (root-owned when Berth runs as root), but the
    // image on disk keeps it either way.
    let script = "cat /hello.txt; ls /opaque; test -e /etc/removed-later && echo WHITEOUT-IGNORED; \
                  id -un; echo saved > /workspace/out; echo x > /hello.txt 2>/dev/null; \
                  touch /var/tmp/t && echo tmp-writable";
    let out = finish_exec(
        client
            .exec(vec!["/bin/sh".into(), "-c".into(), script.into()])
            .unwrap(),
        b"",
    )
    .unwrap();
    rt.block_on(fixture.engine.destroy_session(&session.id))
        .unwrap();
    assert!(session.writable_root, "{:?}", session.root_note);
    assert_eq!(
        out.stdout_text(),
        "from the image\nc\nwork\ntmp-writable\n",
        "{}",
        out.stderr_text()
    );
    let image_root = fixture
        .root
        .path()
        .join("data/environments")
        .join(&environment.id)
        .join("rootfs");
    assert_eq!(
        std::fs::read_to_string(image_root.join("hello.txt")).unwrap(),
        "from the image\n"
    );
    let var_tmp = std::fs::metadata(image_root.join("var/tmp")).unwrap();
    assert_eq!(var_tmp.permissions().mode() & 0o7777, 0o1777);
    assert_eq!(
        std::fs::read_dir(image_root.join("var/tmp"))
            .unwrap()
            .count(),
        0
    );
    let folder = rt.block_on(fixture.engine.folder("data")).unwrap();
    assert_eq!(
        std::fs::read_to_string(fixture.engine.folder_path(&folder).join("out")).unwrap(),
        "saved\n"
    );

    fixture.engine.remove_environment("tiny").unwrap();
    assert!(
        !fixture
            .root
            .path()
            .join("data/environments")
            .join(&environment.id)
            .exists()
    );
}

#[test]
fn hostile_archives_are_refused_and_write_nothing_outside() {
    let fixture = engine();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_string_lossy().into_owned();
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        ("climbing", layer(|b| file(b, "../../escaped", b"x"))),
        (
            "absolute",
            layer(|b| file(b, &format!("{target}/absolute"), b"x")),
        ),
        (
            "through a link",
            layer(|b| {
                raw_entry(b, "evil", tar::EntryType::Symlink, Some(&target), b"");
                file(b, "evil/through-link", b"x");
            }),
        ),
        (
            "hard link out",
            layer(|b| raw_entry(b, "hl", tar::EntryType::Link, Some("../../etc/passwd"), b"")),
        ),
        (
            "whiteout of the parent",
            layer(|b| file(b, "sub/.wh...", b"")),
        ),
    ];
    for (attack, bytes) in attacks {
        let archive = fixture.root.path().join("bad.tar");
        docker_save(&archive, vec![bytes]);
        let error = fixture
            .engine
            .import_image(&archive, Some("bad"))
            .unwrap_err();
        assert_eq!(
            error.code,
            ErrorCode::InvalidInput,
            "{attack}: {}",
            error.message
        );
        assert!(
            error.message.contains("refused"),
            "{attack}: {}",
            error.message
        );
        assert_eq!(
            std::fs::read_dir(outside.path()).unwrap().count(),
            0,
            "{attack} wrote outside"
        );
        let left: Vec<_> = std::fs::read_dir(fixture.root.path().join("data/environments"))
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{attack} left files behind");
    }
    assert!(!fixture.root.path().join("escaped").exists());
    let listed = runtime()
        .block_on(fixture.engine.list_environments())
        .unwrap();
    assert_eq!(listed.len(), 1, "only the host environment remains");
    let not_an_image = fixture.root.path().join("plain.tar");
    docker_save(&not_an_image, vec![]);
    std::fs::write(&not_an_image, b"not a tar at all").unwrap();
    assert_eq!(
        fixture
            .engine
            .import_image(&not_an_image, Some("x"))
            .unwrap_err()
            .code,
        ErrorCode::InvalidInput
    );
}

/// A root file system directory built from [`base_layer`], with what a session may write in
/// it: a 1777 `/var/tmp`, and an `/opt/scratch` anyone may change, holding two files.
fn writable_rootfs(at: &Path) {
    std::fs::create_dir_all(at).unwrap();
    tar::Archive::new(base_layer().as_slice())
        .unpack(at)
        .unwrap();
    for (dir, mode) in [
        ("var", 0o755),
        ("var/tmp", 0o1777),
        ("opt", 0o755),
        ("opt/scratch", 0o777),
    ] {
        std::fs::create_dir(at.join(dir)).unwrap();
        std::fs::set_permissions(at.join(dir), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    for name in ["seed.txt", "gone.txt"] {
        let path = at.join("opt/scratch").join(name);
        std::fs::write(&path, "from the environment\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
}

/// The mount lines of every process on the machine that mention `needle`.
fn mounts_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        // Processes come and go while we look.
        let Ok(table) = std::fs::read_to_string(entry.path().join("mountinfo")) else {
            continue;
        };
        found.extend(
            table
                .lines()
                .filter(|l| l.contains(&needle))
                .map(|l| format!("{}: {l}", entry.file_name().to_string_lossy())),
        );
    }
    found
}

fn supervisor_pid(fixture: &crate::Fixture, id: &str) -> i32 {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture.engine.session_runtime_dir(id).join("state.json")).unwrap(),
    )
    .unwrap();
    state["supervisor_pid"].as_i64().unwrap() as i32
}

#[test]
fn each_session_writes_its_own_throwaway_copy_of_the_environment() {
    let fixture = engine();
    let rt = runtime();
    // ':' and ',' separate overlayfs's options: the environment's path must reach it escaped.
    let rootfs = fixture.root.path().join("root:fs,1");
    writable_rootfs(&rootfs);
    fixture
        .engine
        .add_rootfs_environment("writable", &rootfs)
        .unwrap();
    let start = || {
        let session = rt
            .block_on(
                fixture
                    .engine
                    .create_session(NewSession::interactive("writable", vec![])),
            )
            .unwrap();
        let running = Running {
            fixture: &fixture,
            id: session.id,
        };
        assert!(session.writable_root, "{:?}", session.root_note);
        assert_eq!(session.root_note, None);
        running
    };
    let first = start();
    let out = first.ok(
        "echo one > /var/tmp/new && echo changed > /opt/scratch/seed.txt && \
         rm /opt/scratch/gone.txt && cat /var/tmp/new /opt/scratch/seed.txt && ls /opt/scratch && \
         { touch /usr/new 2>/dev/null || echo root-owned-stays-closed; } && \
         grep -q ' /usr [^-]* - overlay ' /proc/self/mountinfo && echo overlay",
    );
    let expected_closed = match berth_local::sessions::session_identity() {
        // As root, the environment's files are root's and the session runs as nobody.
        Some(_) => "root-owned-stays-closed\n",
        None => "",
    };
    assert_eq!(
        out,
        format!("one\nchanged\nseed.txt\n{expected_closed}overlay\n")
    );

    let second = start();
    assert_eq!(
        second.ok("cat /opt/scratch/seed.txt; ls /opt/scratch; ls -A /var/tmp"),
        "from the environment\ngone.txt\nseed.txt\n",
        "the second session sees the first one's changes"
    );
    // The environment on disk is as it was.
    assert_eq!(
        std::fs::read_to_string(rootfs.join("opt/scratch/seed.txt")).unwrap(),
        "from the environment\n"
    );
    assert!(rootfs.join("opt/scratch/gone.txt").exists());
    assert_eq!(
        std::fs::read_dir(rootfs.join("var/tmp")).unwrap().count(),
        0
    );
    assert!(!rootfs.join("usr/new").exists());

    // The overlay lives in the supervisor's own mount namespace, its upper layer in a tmpfs
    // there: the host never sees it.
    let first_dir = fixture.engine.session_runtime_dir(&first.id);
    let second_dir = fixture.engine.session_runtime_dir(&second.id);
    let supervisor = supervisor_pid(&fixture, &first.id);
    let theirs = std::fs::read_to_string(format!("/proc/{supervisor}/mountinfo")).unwrap();
    assert!(
        theirs.lines().any(|l| l.contains(" - overlay ")
            && l.contains(&format!(
                "upperdir={}",
                first_dir.join("overlay/upper").display()
            ))),
        "{theirs}"
    );
    let ours = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !ours.contains(&*fixture.run.path().to_string_lossy()),
        "{ours}"
    );

    // Destroyed, or its supervisor killed: either way nothing is left, mounted or on disk.
    first.destroy();
    let doomed = supervisor_pid(&fixture, &second.id);
    // SAFETY: killing the supervisor this test started.
    unsafe { libc::kill(doomed, libc::SIGKILL) };
    let dead = (0..250).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::read_to_string(format!("/proc/{doomed}/stat")).map_or(true, |s| {
            s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z'))
        })
    });
    assert!(dead, "the supervisor outlived SIGKILL");
    let listed = rt.block_on(fixture.engine.list_sessions()).unwrap();
    let ended = listed.iter().find(|s| s.id == second.id).unwrap();
    assert_eq!(ended.status, berth_core::SessionStatus::Error);
    drop(second);
    for dir in [&first_dir, &second_dir] {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    // The last helper of the killed session (its network) leaves on its own, soon after.
    let mut left = mounts_mentioning(fixture.run.path());
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = mounts_mentioning(fixture.run.path());
    }
    assert_eq!(left, Vec::<String>::new(), "mounts outlived their sessions");
}
