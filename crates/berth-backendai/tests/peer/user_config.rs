//! The user's dotfiles and bootstrap script kept in the cluster's user config
//! (`/user-config/...`), read back as the server stored them.

use berth_core::{Dotfile, Engine, ErrorCode};

use crate::*;

#[tokio::test]
async fn dotfiles_are_added_replaced_and_removed_on_the_server() {
    let engine = engine().await;
    // Dotfiles are per user on the server: this test's own paths keep parallel runs apart.
    let rc = format!(".berthtest-{}", unique("rc"));
    let nested = format!(".config/{}/config", unique("tool"));
    engine
        .set_dotfile(Dotfile {
            path: rc.clone(),
            content: "export PYTHONPATH=/home/work/lib\n".into(),
            mode: 0o644,
        })
        .await
        .unwrap();
    engine
        .set_dotfile(Dotfile {
            path: nested.clone(),
            content: "[user]\n".into(),
            mode: 0o600,
        })
        .await
        .unwrap();
    // Replacing goes through the update call, not a second entry.
    engine
        .set_dotfile(Dotfile {
            path: rc.clone(),
            content: "export PYTHONPATH=/home/work/lib2\n".into(),
            mode: 0o640,
        })
        .await
        .unwrap();

    // A fresh login (another process, another day) reads what the server kept.
    let again = crate::engine().await;
    let listed = again.list_dotfiles().await.unwrap();
    let mine: Vec<&Dotfile> = listed
        .iter()
        .filter(|d| d.path == rc || d.path == nested)
        .collect();
    assert_eq!(mine.len(), 2, "{listed:?}");
    let rc_file = mine.iter().find(|d| d.path == rc).unwrap();
    assert_eq!(rc_file.content, "export PYTHONPATH=/home/work/lib2\n");
    assert_eq!(rc_file.mode, 0o640);
    assert_eq!(mine.iter().find(|d| d.path == nested).unwrap().mode, 0o600);

    again.remove_dotfile(&rc).await.unwrap();
    again.remove_dotfile(&nested).await.unwrap();
    let gone = again.remove_dotfile(&rc).await.unwrap_err();
    assert_eq!(gone.code, ErrorCode::NotFound, "{gone}");
    assert!(
        !again
            .list_dotfiles()
            .await
            .unwrap()
            .iter()
            .any(|d| d.path == rc || d.path == nested)
    );
}

#[tokio::test]
async fn bad_dotfiles_are_refused_before_the_request() {
    let engine = engine().await;
    for (path, rule) in [
        ("../escape", "'..' path component"),
        ("bashrc", "must start with '.'"),
        (".a/../../b", "'..' path component"),
    ] {
        let error = engine
            .set_dotfile(Dotfile {
                path: path.into(),
                content: String::new(),
                mode: 0o644,
            })
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput, "{path}: {error}");
        assert!(error.message.contains(path), "{error}");
        assert!(error.message.contains(rule), "{error}");
    }
    let big = engine
        .set_dotfile(Dotfile {
            path: format!(".{}", unique("big")),
            content: "x".repeat(70 * 1024),
            mode: 0o644,
        })
        .await
        .unwrap_err();
    assert_eq!(big.code, ErrorCode::InvalidInput, "{big}");
    assert!(big.message.contains("limit"), "{big}");
}

#[tokio::test]
async fn the_bootstrap_script_is_set_read_and_cleared() {
    // The only test that touches this user's bootstrap script (it is one value per user).
    let engine = engine().await;
    let script = "#!/bin/sh\npip install --user tqdm\n";
    engine
        .set_bootstrap_script(Some(script.into()))
        .await
        .unwrap();
    // The server strips trailing whitespace from the script; the lines stay.
    assert_eq!(
        crate::engine()
            .await
            .bootstrap_script()
            .await
            .unwrap()
            .as_deref(),
        Some(script.trim_end())
    );
    engine.set_bootstrap_script(None).await.unwrap();
    assert_eq!(engine.bootstrap_script().await.unwrap(), None);
}
