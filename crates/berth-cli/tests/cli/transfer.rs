//! Transfers interrupted the hard way: `kill -9` of the `berth` process mid-transfer, then
//! `berth transfers resume`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Child;
#[cfg(target_os = "linux")]
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::{berth, run, stdout};

/// A file of `mib` MiB whose blocks all differ, written quickly.
fn pattern_file(path: &Path, mib: u32) {
    let block: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..mib {
        let salted: Vec<u8> = block
            .iter()
            .map(|b| b ^ (i as u8) ^ ((i >> 8) as u8))
            .collect();
        file.write_all(&salted).unwrap();
    }
    file.flush().unwrap();
}

fn sha256(path: &Path) -> Vec<u8> {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buffer).unwrap();
        if n == 0 {
            return hasher.finalize().to_vec();
        }
        hasher.update(&buffer[..n]);
    }
}

fn partials(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .contains(".berth-part-")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until a partial file in `dir` holds at least `at_least` bytes, then SIGKILLs `child`.
/// Returns the partial's length after the kill, or None when the child finished first (the
/// machine was too fast to catch it mid-way).
fn kill_when_partial_has(child: &mut Child, dir: &Path, at_least: u64) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        if let Some(partial) = partials(dir)
            .into_iter()
            .find(|p| p.metadata().map(|m| m.len() >= at_least).unwrap_or(false))
        {
            child.kill().unwrap(); // SIGKILL: no destructor, no cleanup runs
            child.wait().unwrap();
            return Some(partial.metadata().unwrap().len());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!(
        "no partial file of {at_least} bytes appeared in {}",
        dir.display()
    );
}

fn folder_root(home: &Path) -> PathBuf {
    let info = stdout(&run(&mut berth(home, &["--json", "folder", "info", "w"])));
    let value: serde_json::Value = serde_json::from_str(&info).unwrap();
    PathBuf::from(value["path"].as_str().unwrap())
}

/// Runs `berth transfers resume`, which must finish the one interrupted transfer, and returns
/// how many bytes it wrote: the kernel's count for the process (`wchar`, which includes
/// `copy_file_range`), read from the shell that ran it once it was reaped. Linux only: no other
/// system counts a process's writes where a test can read them, so elsewhere the resume is
/// checked by its result alone.
#[cfg(target_os = "linux")]
fn resume_counting_writes(home: &Path) -> u64 {
    let command = berth(home, &["transfers", "resume"]);
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(r#""$0" "$@" >&2; status=$?; grep '^wchar:' /proc/$$/io; exit $status"#)
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(name, value),
            None => shell.env_remove(name),
        };
    }
    let output = run(&mut shell);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("1 transferred"), "{said}");
    stdout(&output)
        .trim()
        .strip_prefix("wchar:")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no write count in {:?}", stdout(&output)))
}

/// Resumes the interrupted transfer; on Linux also proves it continued rather than started
/// over (see [`resume_counting_writes`]).
fn resume_and_check_it_continued(home: &Path, size: u64, kept: u64) {
    #[cfg(target_os = "linux")]
    assert_continued(resume_counting_writes(home), size, kept);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (size, kept);
        let output = run(&mut berth(home, &["transfers", "resume"]));
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{said}");
        assert!(stdout(&output).contains("1 transferred"), "{said}");
    }
}

/// What a resume may write beyond the file's missing part: the journal, its log lines.
#[cfg(target_os = "linux")]
const BOOKKEEPING: u64 = 16 << 20;

/// A resume continued the file instead of starting over: it wrote the missing part (so the
/// count sees the copy), and not the `kept` bytes again.
#[cfg(target_os = "linux")]
fn assert_continued(written: u64, size: u64, kept: u64) {
    assert!(
        written >= size - kept,
        "the resume wrote {written} bytes, less than the {} missing",
        size - kept
    );
    assert!(
        written < size - kept + BOOKKEEPING,
        "the resume wrote {written} bytes: it copied again some of the {kept} bytes kept from \
         before the kill"
    );
}

#[test]
fn an_upload_killed_mid_way_continues_where_it_stopped_to_an_identical_file() {
    let home = tempfile::tempdir().unwrap();
    run(&mut berth(home.path(), &["folder", "create", "w"]));
    let root = folder_root(home.path());
    let source = home.path().join("big.bin");
    pattern_file(&source, 768);

    let mut child = berth(home.path(), &["upload", "w", source.to_str().unwrap()])
        .spawn()
        .unwrap();
    let kept = kill_when_partial_has(&mut child, &root, 128 << 20)
        .expect("the upload finished before it could be killed");
    assert!(
        !root.join("big.bin").exists(),
        "no file under the final name after the kill"
    );

    resume_and_check_it_continued(home.path(), 768 << 20, kept);
    assert_eq!(sha256(&root.join("big.bin")), sha256(&source));
    assert!(
        partials(&root).is_empty(),
        "the partial file became the final one"
    );
}

#[test]
fn a_download_killed_mid_way_continues_where_it_stopped_to_an_identical_file() {
    let home = tempfile::tempdir().unwrap();
    run(&mut berth(home.path(), &["folder", "create", "w"]));
    let root = folder_root(home.path());
    pattern_file(&root.join("big.bin"), 768);
    let out = home.path().join("out");

    let mut child = berth(
        home.path(),
        &["download", "w", "big.bin", "--to", out.to_str().unwrap()],
    )
    .spawn()
    .unwrap();
    let kept = kill_when_partial_has(&mut child, &out, 128 << 20)
        .expect("the download finished before it could be killed");
    assert!(
        !out.join("big.bin").exists(),
        "no file under the final name after the kill"
    );

    resume_and_check_it_continued(home.path(), 768 << 20, kept);
    assert_eq!(sha256(&out.join("big.bin")), sha256(&root.join("big.bin")));
    assert!(partials(&out).is_empty());
}

#[test]
fn an_existing_destination_stops_the_command_until_a_policy_is_given() {
    let home = tempfile::tempdir().unwrap();
    run(&mut berth(home.path(), &["folder", "create", "w"]));
    let root = folder_root(home.path());
    std::fs::write(root.join("a.txt"), b"old").unwrap();
    let source = home.path().join("a.txt");
    std::fs::write(&source, b"new").unwrap();

    let refused = run(&mut berth(
        home.path(),
        &["upload", "w", source.to_str().unwrap()],
    ));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--conflict"));
    assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"old");

    let kept = run(&mut berth(
        home.path(),
        &[
            "upload",
            "w",
            source.to_str().unwrap(),
            "--conflict",
            "keep-both",
        ],
    ));
    assert!(kept.status.success());
    assert_eq!(std::fs::read(root.join("a (1).txt")).unwrap(), b"new");
}

/// Names Windows refuses (`aux.txt`, `notes.`) and names differing only in case are ordinary
/// files on Linux: every one arrives. (A local folder on Windows or macOS cannot hold them in
/// the first place; the Windows side is proved against a Backend.AI folder, see
/// `cluster_names.rs`, and by the queue's own tests.)
#[cfg(target_os = "linux")]
#[test]
fn on_linux_a_download_keeps_names_windows_would_refuse() {
    let home = tempfile::tempdir().unwrap();
    run(&mut berth(home.path(), &["folder", "create", "w"]));
    let root = folder_root(home.path());
    let names = ["aux.txt", "notes.", "Data.csv", "data.csv", "ok.txt"];
    for name in names {
        std::fs::write(root.join(name), name).unwrap();
    }
    let out = home.path().join("out");
    let mut args = vec!["download", "w", "--to", out.to_str().unwrap()];
    args.extend(names);

    let output = run(&mut berth(home.path(), &args));

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in names {
        assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), name);
    }
}

/// A tree uploaded from this computer lands with `/` between its parts and its names as the
/// user sees them, whatever the computer's own separator.
#[test]
fn an_uploaded_tree_keeps_its_names_and_shape_in_the_folder() {
    let home = tempfile::tempdir().unwrap();
    run(&mut berth(home.path(), &["folder", "create", "w"]));
    let tree = home.path().join("project");
    std::fs::create_dir_all(tree.join("src").join("deep dir")).unwrap();
    std::fs::write(tree.join("src").join("deep dir").join("résumé.txt"), b"x").unwrap();
    std::fs::write(tree.join("README.md"), b"# p").unwrap();

    let output = run(&mut berth(
        home.path(),
        &["upload", "w", tree.to_str().unwrap()],
    ));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let listed = stdout(&run(&mut berth(
        home.path(),
        &["--json", "files", "ls", "w", "project/src/deep dir"],
    )));
    let entries: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(entries[0]["name"], "résumé.txt", "{listed}");
    let root = folder_root(home.path());
    assert!(root.join("project/README.md").is_file());
}
