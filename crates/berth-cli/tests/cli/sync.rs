//! `berth sync once … --direction push`: a directory sent to a folder by what differs, the
//! second pass sending nothing, links never followed, ignore rules on both sides, and deletes
//! only when asked and only below the synced path — on the local engine and on the peer.

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
