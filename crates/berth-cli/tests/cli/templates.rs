//! `berth template …`: saved setups as readable files, listed, shown, exported and imported,
//! removed; a broken or newer file refused with the rule, launching nothing.

use serde_json::Value;

use crate::{berth, ok, run, stderr};

#[test]
fn templates_are_saved_listed_shown_imported_and_removed() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ok = |args: &[&str]| ok(h, args);
    ok(&[
        "template",
        "save",
        "gpu-train",
        "--env",
        "docker:python:3.12",
        "--mount",
        "data:/data:ro",
        "--cpus",
        "2",
        "--var",
        "EPOCHS=3",
    ]);
    let again = run(&mut berth(
        h,
        &[
            "template",
            "save",
            "gpu-train",
            "--env",
            "docker:python:3.12",
        ],
    ));
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    let listed = ok(&["template", "list"]);
    assert!(listed.starts_with("gpu-train"), "{listed}");
    assert!(
        listed.contains("folders data") && listed.contains("2 CPUs"),
        "{listed}"
    );

    let shown: Value = serde_json::from_str(&ok(&["template", "show", "gpu-train"])).unwrap();
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["session"]["environment"], "docker:python:3.12");
    assert_eq!(shown["session"]["mounts"][0]["alias"], "/data");
    assert_eq!(shown["session"]["mounts"][0]["access"], "read_only");

    // Exported by hand (the file is the template), imported under another home.
    let exported = home.path().join("gpu-train.json");
    std::fs::write(&exported, ok(&["template", "show", "gpu-train"])).unwrap();
    let other = tempfile::tempdir().unwrap();
    let imported = run(&mut berth(
        other.path(),
        &["template", "import", exported.to_str().unwrap()],
    ));
    assert!(imported.status.success(), "{}", stderr(&imported));
    assert!(
        crate::stdout(&run(&mut berth(other.path(), &["template", "list"]))).contains("gpu-train")
    );

    ok(&["template", "rm", "gpu-train"]);
    assert!(ok(&["template", "list"]).starts_with("No templates"));
}

#[test]
fn a_broken_or_newer_template_is_refused_with_the_rule_and_launches_nothing() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let dir = h.join("config").join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("future.json"),
        r#"{"version": 9, "name": "future", "session": {}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("torn.json"),
        r#"{"version": 1, "name": "torn", "ses"#,
    )
    .unwrap();

    for (name, rule) in [
        ("future", "was written by a newer Berth"),
        ("torn", "is not valid JSON"),
    ] {
        let output = run(&mut berth(
            h,
            &["--json", "session", "create", "--template", name],
        ));
        assert!(!output.status.success(), "{name}");
        let error: Value = serde_json::from_slice(&output.stderr).unwrap();
        assert_eq!(error["code"], "invalid_input", "{error}");
        assert!(error["message"].as_str().unwrap().contains(rule), "{error}");
    }
    let sessions = crate::stdout(&run(&mut berth(h, &["--json", "session", "list"])));
    assert_eq!(sessions.trim(), "[]");

    // Listing shows what reads and says what does not.
    let listed = run(&mut berth(h, &["template", "list"]));
    assert!(listed.status.success());
    assert!(
        stderr(&listed).contains("future.json"),
        "{}",
        stderr(&listed)
    );

    let bad_name = run(&mut berth(h, &["template", "save", "a/x", "--env", "e"]));
    assert!(
        stderr(&bad_name).contains("holds '/'"),
        "{}",
        stderr(&bad_name)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn limits_go_through_templates_into_a_session_and_bad_durations_launch_nothing() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ok = |args: &[&str]| ok(h, args);
    ok(&[
        "template",
        "save",
        "nightly",
        "--env",
        "host",
        "--idle-timeout",
        "30m",
        "--lifetime",
        "1h30m",
    ]);
    let shown: Value =
        serde_json::from_str(&ok(&["--json", "template", "show", "nightly"])).unwrap();
    assert_eq!(shown["session"]["limits"]["idle_timeout_secs"], 1800);
    assert_eq!(shown["session"]["limits"]["lifetime_secs"], 5400);

    // A flag changes the template's limit for this launch; `none` clears one.
    let id = ok(&[
        "session",
        "create",
        "--template",
        "nightly",
        "--lifetime",
        "8h",
        "--idle-timeout",
        "none",
    ]);
    let id = id.trim();
    let info = ok(&["session", "info", id]);
    assert!(info.contains("lifetime:    8 h (ends "), "{info}");
    assert!(!info.contains("idle limit"), "{info}");
    let extended = ok(&["session", "extend", id, "--by", "30m"]);
    assert!(extended.starts_with("Extended "), "{extended}");
    assert!(extended.contains("by 30 min"), "{extended}");
    ok(&["session", "destroy", id]);

    for (args, words) in [
        (
            vec!["--lifetime", "30"],
            "Lifetime \"30\" ends in a number without a unit",
        ),
        (
            vec!["--lifetime", "0s"],
            "Lifetime must be longer than zero",
        ),
        (
            vec!["--idle-timeout=-5m"],
            "Idle timeout \"-5m\" is negative",
        ),
        (
            vec!["--idle-timeout", "10m", "--idle-cpu", "0"],
            "Idle CPU threshold 0% is out of range",
        ),
    ] {
        let mut all = vec!["session", "create", "--env", "host"];
        all.extend(args);
        let output = run(&mut berth(h, &all));
        assert!(!output.status.success());
        assert!(stderr(&output).contains(words), "{}", stderr(&output));
    }
    let sessions: Value = serde_json::from_str(&ok(&["--json", "session", "list"])).unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
}
