//! Transfers interrupted the hard way: `kill -9` of the `berth` process mid-transfer, then
//! `berth transfers resume`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
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
/// `copy_file_range`), read from the shell that ran it once it was reaped.
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

/// What a resume may write beyond the file's missing part: the journal, its log lines.
const BOOKKEEPING: u64 = 16 << 20;

/// A resume continued the file instead of starting over: it wrote the missing part (so the
/// count sees the copy), and not the `kept` bytes again.
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

    let written = resume_counting_writes(home.path());
    assert_continued(written, 768 << 20, kept);
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

    let written = resume_counting_writes(home.path());
    assert_continued(written, 768 << 20, kept);
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
