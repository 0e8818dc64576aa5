use serde_json::Value;

use crate::{berth, ok, run};

#[test]
fn files_commands_change_the_folder_and_refuse_escapes_without_writing() {
    let home = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| ok(home.path(), args);
    ok(&["folder", "create", "w"]);
    ok(&["files", "mkdir", "w", "runs/2026 11"]);
    ok(&["files", "mv", "w", "runs/2026 11", "runs/latest"]);
    let listed: Value = serde_json::from_str(&ok(&["--json", "files", "ls", "w", "runs"])).unwrap();
    assert_eq!(listed[0]["name"], "latest");
    assert_eq!(listed[0]["kind"], "directory");

    let info: Value = serde_json::from_str(&ok(&["--json", "folder", "info", "w"])).unwrap();
    let root = std::path::PathBuf::from(info["path"].as_str().unwrap());
    for args in [
        vec!["files", "mkdir", "w", "../planted"],
        vec!["files", "mkdir", "w", "/tmp/planted"],
        vec!["files", "mv", "w", "runs", "../runs"],
    ] {
        let output = run(&mut berth(home.path(), &args));
        assert!(!output.status.success(), "{args:?} must fail");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.starts_with("berth: "), "{message}");
    }
    assert!(!root.parent().unwrap().join("planted").exists());
    assert!(
        root.join("runs/latest").is_dir(),
        "the refused move left the tree in place"
    );
    ok(&["files", "rm", "w", "runs"]);
    assert_eq!(ok(&["files", "ls", "w"]), "");
}

/// Unix only: under Wine 8, where the Windows build's tests run, `CreateSymbolicLink` reports
/// success and makes nothing, so no link exists to escape through (on Windows the confinement
/// of links is cap-std's, which resolves every component itself there too).
#[cfg(unix)]
#[test]
fn files_commands_never_follow_a_link_out_of_the_folder() {
    let home = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| ok(home.path(), args);
    ok(&["folder", "create", "w"]);
    ok(&["files", "mkdir", "w", "runs/latest"]);
    let info: Value = serde_json::from_str(&ok(&["--json", "folder", "info", "w"])).unwrap();
    let root = std::path::PathBuf::from(info["path"].as_str().unwrap());
    let outside = home.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();

    for args in [
        vec!["files", "mkdir", "w", "out/planted"],
        vec!["files", "mv", "w", "runs", "out/runs"],
    ] {
        let output = run(&mut berth(home.path(), &args));
        assert!(!output.status.success(), "{args:?} must fail");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.starts_with("berth: "), "{message}");
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    assert!(
        root.join("runs/latest").is_dir(),
        "the refused move left the tree in place"
    );

    ok(&["files", "rm", "w", "out", "runs"]);
    assert!(outside.is_dir(), "removing the link kept its target");
    assert_eq!(ok(&["files", "ls", "w"]), "");
}
