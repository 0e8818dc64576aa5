use serde_json::Value;

use crate::{berth, run, stdout};

fn json(home: &std::path::Path, args: &[&str]) -> (bool, Value, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = run(&mut berth(home, &all));
    let parse = |bytes: &[u8]| serde_json::from_slice(bytes).unwrap_or(Value::Null);
    (
        output.status.success(),
        parse(&output.stdout),
        parse(&output.stderr),
    )
}

#[test]
fn a_folder_goes_through_create_list_info_trash_restore_and_purge() {
    let home = tempfile::tempdir().unwrap();
    let (ok, created, _) = json(
        home.path(),
        &[
            "folder",
            "create",
            "user2-vfolder",
            "--usage-mode",
            "data",
            "--permission",
            "ro",
        ],
    );
    assert!(ok, "{created}");
    assert_eq!(created["usage_mode"], "data");
    assert_eq!(created["permission"], "ro");

    let (_, listed, _) = json(home.path(), &["folder", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "user2-vfolder");

    let (_, info, _) = json(home.path(), &["folder", "info", "user2-vfolder"]);
    let path = std::path::PathBuf::from(info["path"].as_str().unwrap());
    assert!(
        path.is_dir(),
        "info --json gives the folder's directory: {info}"
    );
    assert!(path.starts_with(home.path().join("data")));

    assert!(json(home.path(), &["folder", "delete", "user2-vfolder"]).0);
    assert_eq!(
        json(home.path(), &["folder", "list"]).1,
        Value::Array(vec![])
    );
    assert_eq!(
        json(home.path(), &["folder", "trash"]).1[0]["name"],
        "user2-vfolder"
    );
    assert!(json(home.path(), &["folder", "restore", "user2-vfolder"]).0);
    assert!(json(home.path(), &["folder", "delete", "user2-vfolder"]).0);
    assert!(json(home.path(), &["folder", "purge", "user2-vfolder"]).0);
    assert!(!path.exists(), "purge removed the directory");
    assert_eq!(
        json(home.path(), &["folder", "trash"]).1,
        Value::Array(vec![])
    );
}

#[test]
fn a_folder_can_be_created_on_an_added_host_on_another_disk() {
    let home = tempfile::tempdir().unwrap();
    let disk = tempfile::tempdir().unwrap();
    let (ok, host, err) = json(
        home.path(),
        &[
            "folder",
            "hosts",
            "add",
            "disk2",
            disk.path().to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(host["id"], "local:disk2");
    let (_, hosts, _) = json(home.path(), &["folder", "hosts"]);
    assert_eq!(hosts.as_array().unwrap().len(), 2);
    assert!(
        json(
            home.path(),
            &["folder", "create", "far", "--host", "local:disk2"]
        )
        .0
    );
    let (_, info, _) = json(home.path(), &["folder", "info", "far"]);
    assert!(
        info["path"]
            .as_str()
            .unwrap()
            .starts_with(disk.path().to_str().unwrap())
    );
    let (ok, _, err) = json(home.path(), &["folder", "hosts", "remove", "local:disk2"]);
    assert!(!ok);
    assert_eq!(err["code"], "invalid_input");
}

#[test]
fn a_cloneable_folder_is_cloned_with_its_contents() {
    let home = tempfile::tempdir().unwrap();
    assert!(json(home.path(), &["folder", "create", "base", "--cloneable"]).0);
    let (_, info, _) = json(home.path(), &["folder", "info", "base"]);
    std::fs::write(
        std::path::Path::new(info["path"].as_str().unwrap()).join("data.csv"),
        "1,2",
    )
    .unwrap();
    let (ok, clone, _) = json(
        home.path(),
        &["folder", "clone", "base", "copy", "--usage-mode", "data"],
    );
    assert!(ok, "{clone}");
    assert_eq!(clone["usage_mode"], "data");
    let (_, listed, _) = json(home.path(), &["files", "ls", "copy"]);
    assert_eq!(listed[0]["name"], "data.csv");

    json(home.path(), &["folder", "create", "mine"]);
    let (ok, _, err) = json(home.path(), &["folder", "clone", "mine", "copy2"]);
    assert!(!ok);
    assert_eq!(err["code"], "permission_denied");
}

#[test]
fn errors_go_to_stderr_as_code_and_message_with_a_failing_exit() {
    let home = tempfile::tempdir().unwrap();
    let (ok, out, err) = json(home.path(), &["folder", "create", "a/b"]);
    assert!(!ok);
    assert_eq!(out, Value::Null, "nothing on stdout");
    assert_eq!(err["code"], "invalid_input");
    assert!(
        err["message"].as_str().unwrap().contains("\"a/b\""),
        "{err}"
    );

    json(home.path(), &["folder", "create", "dup"]);
    let (ok, _, err) = json(home.path(), &["folder", "create", "dup"]);
    assert!(!ok);
    assert_eq!(err["code"], "already_exists");

    let (ok, _, err) = json(home.path(), &["folder", "info", "missing"]);
    assert!(!ok);
    assert_eq!(err["code"], "not_found");
    assert_eq!(
        json(home.path(), &["folder", "list"])
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn text_output_reads_as_a_table_and_errors_name_the_rule() {
    let home = tempfile::tempdir().unwrap();
    let empty = run(&mut berth(home.path(), &["folder", "list"]));
    assert!(stdout(&empty).contains("No storage folders yet"));
    run(&mut berth(home.path(), &["folder", "create", ".local"]));
    let listed = stdout(&run(&mut berth(home.path(), &["folder", "list"])));
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        listed.contains(".local") && listed.contains("(auto-mount)"),
        "{listed}"
    );

    let bad = run(&mut berth(home.path(), &["folder", "create", ".bashrc"]));
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.starts_with("berth: Folder name \".bashrc\" is reserved"),
        "{message}"
    );
}
