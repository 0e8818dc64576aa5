//! Making a session environment one's own (DESIGN.md rules 4 and 7): dotfiles in every new
//! session's /home/work before its shell starts, a bootstrap script run once at start with
//! failures reported, and programs installed into .linuxbrew kept for the next session.

use std::time::Duration;

use berth_core::{Dotfile, Engine, MountRequest, NewFolder, NewSession, SessionStatus};
use berth_local::supervisor::protocol::{Frame, read_frame, write_frame};

use crate::{Fixture, Running, engine, runtime, sh};

fn folder(fixture: &Fixture, name: &str) -> std::path::PathBuf {
    let rt = runtime();
    rt.block_on(fixture.engine.create_folder(NewFolder::named(name)))
        .unwrap();
    let folder = rt.block_on(fixture.engine.folder(name)).unwrap();
    fixture.engine.folder_path(&folder)
}

fn start<'a>(fixture: &'a Fixture, mounts: &[&str]) -> Running<'a> {
    let spec = NewSession::interactive(
        "host",
        mounts.iter().map(|m| MountRequest::folder(*m)).collect(),
    );
    let id = runtime()
        .block_on(fixture.engine.create_session(spec))
        .unwrap()
        .id;
    Running { fixture, id }
}

fn destroy(fixture: &Fixture, id: &str) {
    runtime()
        .block_on(fixture.engine.destroy_session(id))
        .unwrap();
}

/// Types `line` into a new terminal (a login shell, as the app opens) and returns what it
/// printed once `marker` appeared.
pub(crate) fn in_terminal(fixture: &Fixture, id: &str, line: &str, marker: &str) -> String {
    let (_, client) = fixture.engine.session_client(id).unwrap();
    let mut terminal = client.terminal(120, 30).unwrap();
    terminal
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write_frame(&mut terminal, Frame::Input, format!("{line}\n").as_bytes()).unwrap();
    let mut seen = Vec::new();
    let mut payload = Vec::new();
    // The caller computes the marker in the shell (`$((1+1))`), so the echoed command line
    // does not contain it: it appears once the command ran.
    while !String::from_utf8_lossy(&seen).contains(marker) {
        match read_frame(&mut terminal, &mut payload) {
            Ok(Some(Frame::Output)) => seen.extend_from_slice(&payload),
            Ok(Some(_)) => {}
            _ => panic!(
                "terminal ended or stalled: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn set(fixture: &Fixture, path: &str, content: &str) {
    runtime()
        .block_on(fixture.engine.set_dotfile(Dotfile {
            path: path.into(),
            content: content.into(),
            mode: 0o644,
        }))
        .unwrap();
}

#[test]
fn dotfiles_are_in_home_and_a_bashrc_pythonpath_holds_in_every_terminal() {
    let fixture = engine();
    let libs = folder(&fixture, "libs");
    std::fs::create_dir_all(libs.join("py")).unwrap();
    std::fs::write(
        libs.join("py/mymod.py"),
        "VALUE = 'found through PYTHONPATH'\n",
    )
    .unwrap();
    folder(&fixture, ".cache");
    set(
        &fixture,
        ".bashrc",
        "export PYTHONPATH=/home/work/libs/py\n",
    );
    set(&fixture, ".config/app/settings", "theme=dark\n");
    set(&fixture, ".cache/shadowed", "never placed\n");

    for _ in 0..2 {
        let id = start(&fixture, &["libs"]);
        let out = in_terminal(
            &fixture,
            &id,
            "python3 -c 'import mymod; print(mymod.VALUE)'; echo DONE-$((1+1))",
            "DONE-2",
        );
        assert!(out.contains("found through PYTHONPATH"), "{out}");
        let files = sh(
            &fixture,
            &id,
            "cat .config/app/settings; ls -A .cache; echo more >> .bashrc && echo writable",
        );
        assert_eq!(
            files.stdout_text(),
            "theme=dark\nwritable\n",
            "{}",
            files.stderr_text()
        );
        let logs = runtime()
            .block_on(fixture.engine.session_logs(&id))
            .unwrap();
        assert!(
            logs.contains("dotfile .cache/shadowed was not placed: folder \".cache\""),
            "{logs}"
        );
        destroy(&fixture, &id);
    }
}

/// The user guide's example: a `PYTHONPATH` added to `~/.bashrc` in one tab holds in the next
/// tab at once. Regression: the next tab's shell was started (and had read `.bashrc`) when the
/// previous tab opened, so it missed the edit and only the tab after it saw the variable.
#[test]
fn a_bashrc_edited_in_one_tab_holds_in_the_next_tab() {
    let fixture = engine();
    folder(&fixture, "user2-vfolder");
    let session = start(&fixture, &["user2-vfolder"]);
    // The pause lets whatever is kept ready for the next tab get as far as it ever would
    // before the edit: a shell started ahead would have read the old `.bashrc` by then.
    let out = in_terminal(
        &fixture,
        &session.id,
        "sleep 1; echo 'export PYTHONPATH=/home/work/user2-vfolder' >> ~/.bashrc; echo DONE-$((1+1))",
        "DONE-2",
    );
    assert!(!out.contains("rror"), "{out}");
    for tab in ["second", "third"] {
        let out = in_terminal(
            &fixture,
            &session.id,
            r#"echo "PYTHONPATH=[$PYTHONPATH]"; echo DONE-$((1+1))"#,
            "DONE-2",
        );
        assert!(
            out.contains("PYTHONPATH=[/home/work/user2-vfolder]"),
            "the {tab} tab missed the .bashrc edit: {out}"
        );
    }
}

fn logs_until(fixture: &Fixture, id: &str, marker: &str) -> String {
    let rt = runtime();
    for _ in 0..200 {
        let logs = rt.block_on(fixture.engine.session_logs(id)).unwrap();
        if logs.contains(marker) {
            return logs;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "no \"{marker}\" in the logs: {}",
        rt.block_on(fixture.engine.session_logs(id)).unwrap()
    );
}

#[test]
fn the_bootstrap_script_runs_once_at_start_and_a_failure_is_reported() {
    let fixture = engine();
    let out = folder(&fixture, "out");
    let rt = runtime();
    rt.block_on(fixture.engine.set_bootstrap_script(Some(
        "echo bootstrapping as $(id -un)\necho ran >> /home/work/out/count\n".into(),
    )))
    .unwrap();
    let id = start(&fixture, &["out"]);
    let logs = logs_until(&fixture, &id, "bootstrap script finished with status 0");
    assert!(logs.contains("bootstrapping as work"), "{logs}");
    assert_eq!(std::fs::read_to_string(out.join("count")).unwrap(), "ran\n");
    let session = rt.block_on(fixture.engine.session(&id)).unwrap();
    assert_eq!(session.status, SessionStatus::Running);
    assert_eq!(session.status_detail, None);
    destroy(&fixture, &id);

    rt.block_on(
        fixture
            .engine
            .set_bootstrap_script(Some("echo about to fail\nexit 3\n".into())),
    )
    .unwrap();
    let id = start(&fixture, &[]);
    let logs = logs_until(&fixture, &id, "bootstrap script finished with status 3");
    assert!(logs.contains("about to fail"), "{logs}");
    let detail = (0..100)
        .find_map(|_| {
            let s = rt.block_on(fixture.engine.session(&id)).unwrap();
            s.status_detail.or_else(|| {
                std::thread::sleep(Duration::from_millis(20));
                None
            })
        })
        .expect("the failure is reported on the session");
    assert!(
        detail.contains("bootstrap script failed with status 3"),
        "{detail}"
    );
    // The session itself still runs: a failed bootstrap is reported, not fatal.
    assert_eq!(sh(&fixture, &id, "echo alive").stdout_text(), "alive\n");
    destroy(&fixture, &id);

    rt.block_on(fixture.engine.set_bootstrap_script(None))
        .unwrap();
    assert_eq!(
        rt.block_on(fixture.engine.bootstrap_script()).unwrap(),
        None
    );
}

#[test]
fn a_program_installed_into_linuxbrew_without_root_runs_in_the_next_session() {
    let fixture = engine();
    folder(&fixture, ".linuxbrew");
    let first = start(&fixture, &[]);
    let install = sh(
        &fixture,
        &first,
        "id -u; command -v sudo || echo no-sudo; mkdir -p /home/linuxbrew/.linuxbrew/bin && \
         printf '#!/bin/sh\\necho hello from brew\\n' > /home/linuxbrew/.linuxbrew/bin/hello && \
         chmod +x /home/linuxbrew/.linuxbrew/bin/hello",
    );
    assert_eq!(
        install.stdout_text(),
        "1000\nno-sudo\n",
        "{}",
        install.stderr_text()
    );
    destroy(&fixture, &first);
    let next = start(&fixture, &[]);
    assert_eq!(
        sh(&fixture, &next, "hello").stdout_text(),
        "hello from brew\n"
    );
    destroy(&fixture, &next);
}

#[test]
fn bad_dotfiles_and_scripts_are_refused_and_what_was_kept_stays() {
    let fixture = engine();
    let rt = runtime();
    set(&fixture, ".bashrc", "export A=1\n");
    rt.block_on(
        fixture
            .engine
            .set_bootstrap_script(Some("echo kept\n".into())),
    )
    .unwrap();
    for (path, content) in [
        ("../escape", "x".to_owned()),
        ("bashrc", "x".to_owned()),
        (".big", "x".repeat(berth_core::dotfiles::MAX_DOTFILES_BYTES)),
    ] {
        let error = rt
            .block_on(fixture.engine.set_dotfile(Dotfile {
                path: path.into(),
                content,
                mode: 0o644,
            }))
            .unwrap_err();
        assert_eq!(error.code, berth_core::ErrorCode::InvalidInput, "{path}");
        assert!(error.message.contains(path), "{path}: {}", error.message);
    }
    let missing = rt
        .block_on(fixture.engine.remove_dotfile(".nothing"))
        .unwrap_err();
    assert_eq!(missing.code, berth_core::ErrorCode::NotFound);
    let too_long = rt
        .block_on(fixture.engine.set_bootstrap_script(Some(
            "#".repeat(berth_core::dotfiles::MAX_DOTFILES_BYTES + 1),
        )))
        .unwrap_err();
    assert_eq!(too_long.code, berth_core::ErrorCode::InvalidInput);
    // Nothing was lost to the refusals.
    let kept = rt.block_on(fixture.engine.list_dotfiles()).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].path.as_str(), kept[0].content.as_str()),
        (".bashrc", "export A=1\n")
    );
    assert_eq!(
        rt.block_on(fixture.engine.bootstrap_script())
            .unwrap()
            .as_deref(),
        Some("echo kept\n")
    );
}
