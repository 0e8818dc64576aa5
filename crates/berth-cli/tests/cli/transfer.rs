//! Transfers interrupted the hard way: `kill -9` of the `berth` process mid-transfer, then
//! `berth transfers resume`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Child;
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

/// Waits until a partial file with data appears in `dir`, then SIGKILLs `child`. Returns false
/// when the child finished first (the machine was too fast to catch it mid-way).
fn kill_when_partial_appears(child: &mut Child, dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if partials(dir)
            .iter()
            .any(|p| p.metadata().map(|m| m.len() > 0).unwrap_or(false))
        {
            child.kill().unwrap(); // SIGKILL: no destructor, no cleanup runs
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no partial file appeared in {}", dir.display());
}

fn folder_root(home: &Path) -> PathBuf {
    let info = stdout(&run(&mut berth(home, &["--json", "folder", "info", "w"])));
    let value: serde_json::Value = serde_json::from_str(&info).unwrap();
    PathBuf::from(value["path"].as_str().unwrap())
}

fn resume(home: &Path) {
    let output = run(&mut berth(home, &["transfers", "resume"]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout(&output).contains("1 transferred"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn an_upload_killed_mid_way_resumes_to_an_identical_file() {
    let home = tempfile::tempdir().unwrap();
    run(&mut berth(home.path(), &["folder", "create", "w"]));
    let root = folder_root(home.path());
    let source = home.path().join("big.bin");
    pattern_file(&source, 768);

    let mut child = berth(home.path(), &["upload", "w", source.to_str().unwrap()])
        .spawn()
        .unwrap();
    assert!(
        kill_when_partial_appears(&mut child, &root),
        "the upload finished before it could be killed"
    );
    assert!(
        !root.join("big.bin").exists(),
        "no file under the final name after the kill"
    );

    resume(home.path());
    assert_eq!(sha256(&root.join("big.bin")), sha256(&source));
    assert!(
        partials(&root).is_empty(),
        "the partial file became the final one"
    );
}

#[test]
fn a_download_killed_mid_way_resumes_to_an_identical_file() {
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
    assert!(
        kill_when_partial_appears(&mut child, &out),
        "the download finished before it could be killed"
    );
    assert!(
        !out.join("big.bin").exists(),
        "no file under the final name after the kill"
    );

    resume(home.path());
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
