//! `berth sync once … --direction push`: a directory sent to a folder by what differs, the
//! second pass sending nothing, links never followed, ignore rules on both sides, and deletes
//! only when asked and only below the synced path — on the local engine and on the peer. And
//! `--direction pull|both`: the folder's changes brought here, a file changed on both sides
//! kept twice, deletions mirrored only when asked, remembered from one run to the next.

use std::path::Path;

use serde_json::Value;

use crate::cluster_names::Cluster;
use crate::{berth, ok, run, stderr};

/// A project as people keep one: code, a dependency tree and version control (ignored by
/// default), a log matching the test's --ignore, and (on Unix) a link out of it.
fn project(root: &Path) {
    std::fs::create_dir_all(root.join("src/pkg")).unwrap();
    std::fs::create_dir_all(root.join("node_modules/dep")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join("train.py"), "print('train')\n").unwrap();
    std::fs::write(root.join("src/pkg/model.py"), "class Model: ...\n").unwrap();
    std::fs::write(root.join("src/notes.md"), "# notes\n").unwrap();
    std::fs::write(root.join("node_modules/dep/index.js"), "dep").unwrap();
    std::fs::write(root.join(".git/HEAD"), "ref").unwrap();
    std::fs::write(root.join("debug.log"), "noise").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
}

fn pass(report: &str) -> (u64, u64, Vec<String>, Vec<String>) {
    let report: Value = serde_json::from_str(report).unwrap();
    let names = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                v.as_str()
                    .map_or_else(|| v["path"].as_str().unwrap().to_string(), str::to_string)
            })
            .collect()
    };
    (
        report["uploaded"].as_u64().unwrap(),
        report["unchanged"].as_u64().unwrap(),
        names("deleted"),
        names("skipped"),
    )
}

#[test]
fn a_push_sends_what_differs_and_deletes_only_when_asked() {
    let home = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| ok(home.path(), args);
    ok(&["folder", "create", "w"]);
    let info: Value = serde_json::from_str(&ok(&["--json", "folder", "info", "w"])).unwrap();
    let folder = std::path::PathBuf::from(info["path"].as_str().unwrap());
    let local = home.path().join("project");
    project(&local);
    let local_arg = local.to_str().unwrap();
    let push = |extra: &[&str]| {
        let mut args = vec![
            "--json", "sync", "once", local_arg, "w:code", "--ignore", "*.log",
        ];
        args.extend_from_slice(extra);
        pass(&ok(&args))
    };

    let (sent, unchanged, _, skipped) = push(&[]);
    assert_eq!((sent, unchanged), (3, 0));
    if cfg!(unix) {
        assert_eq!(skipped, ["etc-link"], "the link is reported, not followed");
    }
    let code = folder.join("code");
    assert_eq!(
        std::fs::read_to_string(code.join("src/pkg/model.py")).unwrap(),
        "class Model: ...\n"
    );
    for ignored in ["node_modules", ".git", "debug.log", "etc-link"] {
        assert!(!code.join(ignored).exists(), "{ignored} was not to be sent");
    }

    // Nothing changed: nothing sent.
    assert_eq!(push(&[]).0, 0);
    assert_eq!(push(&[]).1, 3);

    // Changed here since, at the same size: the bytes decide. Touched without a change (a
    // checkout does that) is not sent again; other bytes of the same length are.
    let later = |secs| std::time::SystemTime::now() + std::time::Duration::from_secs(secs);
    let touch = |secs| {
        let file = std::fs::File::options()
            .write(true)
            .open(local.join("train.py"))
            .unwrap();
        file.set_modified(later(secs)).unwrap();
    };
    touch(60);
    assert_eq!(push(&[]).0, 0, "a file only touched is not sent");
    std::fs::write(local.join("train.py"), "print('TRAIN')\n").unwrap();
    touch(120);
    assert_eq!(push(&[]).0, 1, "other bytes of the same size are sent");
    assert_eq!(
        std::fs::read_to_string(code.join("train.py")).unwrap(),
        "print('TRAIN')\n"
    );

    // A change and a new file are sent; a file deleted here stays there without --delete.
    std::fs::write(local.join("train.py"), "print('train, longer')\n").unwrap();
    std::fs::write(local.join("src/new.py"), "new\n").unwrap();
    std::fs::remove_file(local.join("src/notes.md")).unwrap();
    let (sent, unchanged, deleted, _) = push(&[]);
    assert_eq!((sent, unchanged, deleted.len()), (2, 1, 0));
    assert_eq!(
        std::fs::read_to_string(code.join("train.py")).unwrap(),
        "print('train, longer')\n"
    );
    assert!(code.join("src/notes.md").exists());

    // A session's outputs in the synced path, one matching the ignore rules, and a sibling of
    // the synced path: --delete removes only what the directory lost.
    std::fs::create_dir_all(code.join("outputs")).unwrap();
    std::fs::write(code.join("outputs/run.log"), "kept: ignored").unwrap();
    std::fs::write(code.join("stray.txt"), "not here any more").unwrap();
    std::fs::write(folder.join("beside.txt"), "outside the synced path").unwrap();
    let (_, _, mut deleted, _) = push(&["--delete"]);
    deleted.sort();
    assert_eq!(deleted, ["code/src/notes.md", "code/stray.txt"]);
    assert!(!code.join("src/notes.md").exists());
    assert!(
        code.join("outputs/run.log").exists(),
        "an ignored path is never deleted"
    );
    assert!(
        folder.join("beside.txt").exists(),
        "nothing outside the synced path"
    );
    // `outputs/` is not in the directory, but it holds an ignored file: it stays with it.
    assert!(code.join("outputs").is_dir());
}

#[test]
fn a_push_refuses_what_it_cannot_sync_in_words() {
    let home = tempfile::tempdir().unwrap();
    ok(home.path(), &["folder", "create", "w"]);
    let file = home.path().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    for (args, said) in [
        (
            vec!["sync", "once", file.to_str().unwrap(), "w"],
            "is not a directory",
        ),
        (
            vec!["sync", "once", home.path().to_str().unwrap(), ":x"],
            "names no folder",
        ),
        (
            vec!["sync", "once", home.path().to_str().unwrap(), "nope"],
            "nope",
        ),
        (
            vec![
                "sync",
                "once",
                home.path().to_str().unwrap(),
                "w",
                "--ignore",
                "{a",
            ],
            "Ignore pattern \"{a\" is not valid: error parsing glob '{a': unclosed alternate group",
        ),
    ] {
        let output = run(&mut berth(home.path(), &args));
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(said),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn a_push_to_a_cluster_folder_sends_what_differs() {
    let cluster = Cluster::add();
    let name = crate::unique("sync");
    cluster.ok(&["folder", "create", &name]);
    let local = cluster.path().join("project");
    project(&local);
    let target = format!("{name}:code");
    let push = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "sync",
            "once",
            local.to_str().unwrap(),
            &target,
            "--ignore",
            "*.log",
        ];
        args.extend_from_slice(extra);
        pass(&cluster.ok(&args))
    };
    assert_eq!(push(&[]).0, 3);
    let (sent, unchanged, _, _) = push(&[]);
    assert_eq!((sent, unchanged), (0, 3), "the second pass sends nothing");
    std::fs::write(local.join("train.py"), "print('changed on the laptop')\n").unwrap();
    std::fs::remove_file(local.join("src/notes.md")).unwrap();
    let (sent, _, deleted, _) = push(&["--delete"]);
    assert_eq!((sent, deleted), (1, vec!["code/src/notes.md".to_string()]));
    let listed: Value =
        serde_json::from_str(&cluster.ok(&["--json", "files", "ls", &name, "code/src"])).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pkg"]);
    let top: Value =
        serde_json::from_str(&cluster.ok(&["--json", "files", "ls", &name, "code"])).unwrap();
    let train = top
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "train.py")
        .unwrap();
    assert_eq!(train["size"], "print('changed on the laptop')\n".len());
    cluster.ok(&["folder", "delete", &name]);
}

/// What a pull or two-way pass reported: (sent, brought here, conflicts, deleted there,
/// deleted here).
fn exchanged(report: &str) -> (u64, u64, Vec<String>, Vec<String>, Vec<String>) {
    let report: Value = serde_json::from_str(report).unwrap();
    let list = |key: &str| -> Vec<String> {
        let mut names: Vec<String> = report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    (
        report["uploaded"].as_u64().unwrap(),
        report["downloaded"].as_u64().unwrap(),
        list("conflicts"),
        list("deleted"),
        list("deleted_here"),
    )
}

#[test]
fn a_two_way_sync_brings_changes_both_ways_and_keeps_both_sides_of_a_conflict() {
    let home = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| ok(home.path(), args);
    ok(&["folder", "create", "w"]);
    let info: Value = serde_json::from_str(&ok(&["--json", "folder", "info", "w"])).unwrap();
    let code = std::path::PathBuf::from(info["path"].as_str().unwrap()).join("code");
    let local = home.path().join("project");
    project(&local);
    let local_arg = local.to_str().unwrap();
    let both = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "sync",
            "once",
            local_arg,
            "w:code",
            "--direction",
            "both",
            "--ignore",
            "*.log",
        ];
        args.extend_from_slice(extra);
        exchanged(&ok(&args))
    };
    assert_eq!(both(&[]).0, 3);
    assert_eq!(both(&[]), (0, 0, vec![], vec![], vec![]), "in step");

    // A session writes results and edits a file; the laptop edits another.
    std::fs::create_dir_all(code.join("out")).unwrap();
    std::fs::write(code.join("out/metrics.json"), "{}").unwrap();
    std::fs::write(code.join("src/notes.md"), "# notes from the session\n").unwrap();
    std::fs::write(local.join("train.py"), "print('edited here')\n").unwrap();
    let (sent, brought, conflicts, _, _) = both(&[]);
    assert_eq!((sent, brought, conflicts.len()), (1, 2, 0));
    assert_eq!(
        std::fs::read_to_string(local.join("src/notes.md")).unwrap(),
        "# notes from the session\n"
    );
    assert_eq!(
        std::fs::read_to_string(code.join("train.py")).unwrap(),
        "print('edited here')\n"
    );

    // Both edit the same file: the folder's keeps the name, the laptop's is kept beside it.
    std::fs::write(local.join("train.py"), "print('laptop')\n").unwrap();
    std::fs::write(code.join("train.py"), "print('session')\n").unwrap();
    let (_, _, conflicts, _, _) = both(&[]);
    assert_eq!(conflicts.len(), 1);
    assert!(
        conflicts[0].starts_with("train (conflict "),
        "{conflicts:?}"
    );
    assert_eq!(
        std::fs::read_to_string(local.join("train.py")).unwrap(),
        "print('session')\n"
    );
    assert_eq!(
        std::fs::read_to_string(local.join(&conflicts[0])).unwrap(),
        "print('laptop')\n"
    );
    let listed = ok(&[
        "sync",
        "once",
        local_arg,
        "w:code",
        "--direction",
        "both",
        "--ignore",
        "*.log",
    ]);
    assert!(
        listed.contains("1 sent"),
        "the conflict copy goes there too: {listed}"
    );

    // Deletions: not mirrored without --delete; mirrored with it, both ways.
    std::fs::remove_file(code.join("out/metrics.json")).unwrap();
    std::fs::remove_file(local.join("src/pkg/model.py")).unwrap();
    assert_eq!(both(&[]).3.len() + both(&[]).4.len(), 0);
    assert!(local.join("out/metrics.json").exists() && code.join("src/pkg/model.py").exists());
    let (_, _, _, there, here) = both(&["--delete"]);
    assert_eq!(there, ["src/pkg/model.py"]);
    assert_eq!(here, ["out/metrics.json"]);

    // A pull sends nothing.
    std::fs::write(local.join("laptop-only.txt"), "stays here").unwrap();
    let pulled = exchanged(&ok(&[
        "--json",
        "sync",
        "once",
        local_arg,
        "w:code",
        "--direction",
        "pull",
    ]));
    assert_eq!(pulled.0, 0);
    assert!(!code.join("laptop-only.txt").exists());
}

#[test]
fn a_two_way_sync_with_a_cluster_folder_brings_its_changes_and_keeps_conflicts() {
    let cluster = Cluster::add();
    let name = crate::unique("sync2");
    cluster.ok(&["folder", "create", &name]);
    let local = cluster.path().join("project");
    std::fs::create_dir_all(local.join("src")).unwrap();
    std::fs::write(local.join("train.py"), "v1\n").unwrap();
    std::fs::write(local.join("src/notes.md"), "notes\n").unwrap();
    let target = format!("{name}:code");
    let both = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "sync",
            "once",
            local.to_str().unwrap(),
            &target,
            "--direction",
            "both",
        ];
        args.extend_from_slice(extra);
        exchanged(&cluster.ok(&args))
    };
    assert_eq!(both(&[]).0, 2);
    assert_eq!(both(&[]), (0, 0, vec![], vec![], vec![]), "in step");

    // The folder changes (as a session would change it: through the storage proxy).
    let elsewhere = cluster.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("train.py"), "v2 from the cluster\n").unwrap();
    std::fs::write(elsewhere.join("results.csv"), "a,b\n").unwrap();
    for file in ["train.py", "results.csv"] {
        cluster.ok(&[
            "upload",
            &name,
            elsewhere.join(file).to_str().unwrap(),
            "--to",
            "code",
            "--conflict",
            "replace",
        ]);
    }
    std::fs::write(local.join("src/notes.md"), "notes, edited here\n").unwrap();
    let (sent, brought, conflicts, _, _) = both(&[]);
    assert_eq!((sent, brought, conflicts.len()), (1, 2, 0));
    assert_eq!(
        std::fs::read_to_string(local.join("train.py")).unwrap(),
        "v2 from the cluster\n"
    );
    assert_eq!(
        std::fs::read_to_string(local.join("results.csv")).unwrap(),
        "a,b\n"
    );

    // Changed on both sides: kept twice.
    std::fs::write(local.join("train.py"), "v3 laptop\n").unwrap();
    std::fs::write(elsewhere.join("train.py"), "v3 cluster, longer\n").unwrap();
    cluster.ok(&[
        "upload",
        &name,
        elsewhere.join("train.py").to_str().unwrap(),
        "--to",
        "code",
        "--conflict",
        "replace",
    ]);
    let (_, _, conflicts, _, _) = both(&[]);
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        std::fs::read_to_string(local.join("train.py")).unwrap(),
        "v3 cluster, longer\n"
    );
    assert_eq!(
        std::fs::read_to_string(local.join(&conflicts[0])).unwrap(),
        "v3 laptop\n"
    );

    // Deleted in the folder, mirrored here when asked.
    cluster.ok(&["files", "rm", &name, "code/results.csv"]);
    let (_, _, _, _, here) = both(&["--delete"]);
    assert_eq!(here, ["results.csv"]);
    assert!(!local.join("results.csv").exists());
    cluster.ok(&["folder", "delete", &name]);
}

/// `sync add`, then `sync run` keeps it going: a saved file reaches the folder; `sync once` on
/// the same pair is refused while it runs; `pause` stops sending and `resume` catches up; Ctrl-C
/// stops it; `rm` forgets it and touches neither side. (Unix: the test interrupts with SIGINT.)
#[cfg(unix)]
#[test]
fn a_sync_set_up_once_keeps_running_until_interrupted() {
    use std::time::{Duration, Instant};
    let home = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| ok(home.path(), args);
    ok(&["folder", "create", "w"]);
    let info: Value = serde_json::from_str(&ok(&["--json", "folder", "info", "w"])).unwrap();
    let code = std::path::PathBuf::from(info["path"].as_str().unwrap()).join("code");
    let local = home.path().join("project");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("a.txt"), "a").unwrap();
    let local_arg = local.to_str().unwrap();
    let added: Value =
        serde_json::from_str(&ok(&["--json", "sync", "add", local_arg, "w:code"])).unwrap();
    let id = added["id"].as_str().unwrap().to_string();
    let again = run(&mut berth(
        home.path(),
        &["sync", "add", local_arg, "w:code"],
    ));
    assert!(
        stderr(&again).contains("already syncs with w:code"),
        "{}",
        stderr(&again)
    );

    let mut runner = berth(home.path(), &["sync", "run"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = |what: &str, check: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !check() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let holds =
        |name: &str, text: &str| std::fs::read_to_string(code.join(name)).is_ok_and(|t| t == text);
    until("the first pass", &|| holds("a.txt", "a"));
    std::fs::write(local.join("b.txt"), "saved").unwrap();
    until("a saved file in the folder", &|| holds("b.txt", "saved"));
    let listed: Value = serde_json::from_str(&ok(&["--json", "sync", "list"])).unwrap();
    assert_eq!(listed[0]["state"]["state"], "in_step", "{listed}");

    let twice = run(&mut berth(
        home.path(),
        &["sync", "once", local_arg, "w:code"],
    ));
    assert!(!twice.status.success());
    assert!(
        stderr(&twice).contains(&format!("Sync {id} is running in another Berth")),
        "{}",
        stderr(&twice)
    );

    ok(&["sync", "pause", &id[..4]]);
    until("the runner to let go", &|| {
        let listed: Value = serde_json::from_str(&ok(&["--json", "sync", "list"])).unwrap();
        listed[0]["state"]["state"] == "stopped"
    });
    std::fs::write(local.join("c.txt"), "while paused").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!code.join("c.txt").exists(), "a paused sync sends nothing");
    ok(&["sync", "resume", &id]);
    until("the catch-up after resume", &|| {
        holds("c.txt", "while paused")
    });

    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(runner.id() as i32, libc::SIGINT) };
    let ended = runner.wait().unwrap();
    assert!(ended.success(), "Ctrl-C ends `sync run` cleanly");
    ok(&["sync", "rm", &id]);
    assert_eq!(ok(&["sync", "list"]), "");
    assert!(
        holds("a.txt", "a") && local.join("a.txt").exists(),
        "rm touches neither side"
    );
}

/// A two-way `sync run` killed with SIGKILL in the middle of its first pass (files half sent,
/// half brought, the journal not yet written): the next run finishes the job with no false
/// conflict and nothing lost, and says it is in step. (Unix: the test sends the signal.)
#[cfg(unix)]
#[test]
fn a_two_way_sync_killed_mid_pass_finishes_the_job_on_the_next_run() {
    use std::time::{Duration, Instant};
    let home = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| ok(home.path(), args);
    ok(&["folder", "create", "w"]);
    let info: Value = serde_json::from_str(&ok(&["--json", "folder", "info", "w"])).unwrap();
    let folder = std::path::PathBuf::from(info["path"].as_str().unwrap());
    let local = home.path().join("project");
    // Enough files both ways that a kill lands mid-pass; large ones go through the queue.
    for i in 0..400 {
        let dir = local.join(format!("here/d{}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.txt")), format!("here {i}\n")).unwrap();
        let dir = folder.join(format!("there/d{}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.txt")), format!("there {i}\n")).unwrap();
    }
    let big: Vec<u8> = (0..(24u32 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(local.join("here/big.bin"), &big).unwrap();
    std::fs::write(folder.join("there/big.bin"), &big).unwrap();
    let local_arg = local.to_str().unwrap();
    ok(&["sync", "add", local_arg, "w", "--direction", "both"]);

    let mut runner = berth(home.path(), &["sync", "run"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the first files have moved, before the pass is over.
    let started = Instant::now();
    while !folder.join("here").exists() && !local.join("there").exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "nothing moved");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(30));
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(runner.id() as i32, libc::SIGKILL) };
    runner.wait().unwrap();
    let count = |dir: &std::path::Path| {
        (0..10)
            .map(|d| std::fs::read_dir(dir.join(format!("d{d}"))).map_or(0, |e| e.count()))
            .sum::<usize>()
    };
    eprintln!(
        "killed with {} of 400 small files sent and {} of 400 brought here",
        count(&folder.join("here")),
        count(&local.join("there"))
    );

    let report: Value = serde_json::from_str(&ok(&[
        "--json",
        "sync",
        "once",
        local_arg,
        "w",
        "--direction",
        "both",
    ]))
    .unwrap();
    assert_eq!(report["conflicts"], serde_json::json!([]), "{report}");
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    for i in 0..400 {
        let d = i % 10;
        let here = format!("here/d{d}/f{i}.txt");
        let there = format!("there/d{d}/f{i}.txt");
        for side in [&local, &folder] {
            assert_eq!(
                std::fs::read_to_string(side.join(&here)).unwrap(),
                format!("here {i}\n")
            );
            assert_eq!(
                std::fs::read_to_string(side.join(&there)).unwrap(),
                format!("there {i}\n")
            );
        }
    }
    for side in [&local, &folder] {
        for name in ["here/big.bin", "there/big.bin"] {
            assert!(std::fs::read(side.join(name)).unwrap() == big, "{name}");
        }
    }
    // Nothing the killed run was writing is left behind here.
    let mut pending = vec![local.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".berth-"), "left behind: {name}");
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
        }
    }
    let again: Value = serde_json::from_str(&ok(&[
        "--json",
        "sync",
        "once",
        local_arg,
        "w",
        "--direction",
        "both",
    ]))
    .unwrap();
    assert_eq!(
        (again["uploaded"].as_u64(), again["downloaded"].as_u64()),
        (Some(0), Some(0)),
        "in step: {again}"
    );
}
