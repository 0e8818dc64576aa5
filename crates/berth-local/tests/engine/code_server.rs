//! code-server (VS Code in the browser) in a local session, as a user gets it: installed from
//! npm into their `.local` folder (as `npm install -g --prefix ~/.local` lays it out; every
//! session mounts it, and its `bin` is on the `PATH`), started on demand with a password of
//! Berth's, and opened through the page Berth hands the browser — its form, posted as a
//! browser posts it from a file, logs in and lands in the workbench with /home/work open; a
//! request without the cookie, or a wrong password, is refused. Opening it again finds the one
//! running.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use berth_core::{Engine, NetworkMode, NewFolder, NewSession};

use crate::{Running, engine};

/// One HTTP/1.0 exchange with `address`: the whole answer.
fn exchange(address: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(address: SocketAddr, path: &str, cookie: Option<&str>) -> String {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    exchange(
        address,
        &format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n{cookie}\r\n"),
    )
}

/// A form post as a browser sends it from a page opened from a file (its origin is `null`).
fn post_form(address: SocketAddr, path: &str, body: &str) -> String {
    exchange(
        address,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: {address}\r\nOrigin: null\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// The text between `start` and the next `end` in `text`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name).map(str::trim))
}

#[test]
fn code_server_from_a_folder_is_offered_started_and_opened_logged_in() {
    let fixture = engine();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let folder = rt
        .block_on(fixture.engine.create_folder(NewFolder::named(".local")))
        .unwrap();
    // From npm, once per checkout (see the script), then laid out in `.local` as a global
    // install there is: the package under lib/node_modules, its command linked from bin.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/install-code-server"
    );
    let installed = std::process::Command::new(script).output().unwrap();
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let installed = String::from_utf8(installed.stdout).unwrap();
    let local = fixture.engine.folder_path(&folder);
    std::fs::create_dir_all(local.join("lib")).unwrap();
    std::fs::create_dir_all(local.join("bin")).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(std::path::Path::new(installed.trim()).join("node_modules"))
        .arg(local.join("lib"))
        .status()
        .unwrap();
    assert!(copied.success());
    std::os::unix::fs::symlink(
        "../lib/node_modules/code-server/out/node/entry.js",
        local.join("bin/code-server"),
    )
    .unwrap();

    // A session with no network at all; `.local` is mounted in every session.
    let mut spec = NewSession::interactive("host", vec![]);
    spec.network = NetworkMode::None;
    let session = rt.block_on(fixture.engine.create_session(spec)).unwrap();
    let running = Running {
        fixture: &fixture,
        id: session.id.clone(),
    };
    assert_eq!(
        crate::jupyter::app_names(&rt, &fixture, &session.id),
        ["ssh", "code-server"]
    );

    let forward = rt
        .block_on(fixture.engine.open_app(&session.id, "code-server", None))
        .unwrap();
    assert_eq!(forward.record.app.as_deref(), Some("code-server"));
    assert_eq!(forward.open_path, "/?folder=/home/work");
    let page = forward.login_page.clone().expect("a page that logs in");
    // What the browser does with the page: posts its form at once.
    assert!(page.contains("document.forms[0].submit()"), "{page}");
    let action = between(&page, "action=\"", "\"");
    let password = between(&page, "name=\"password\" value=\"", "\"");
    assert_eq!(password.len(), 32);
    let prefix = format!("http://127.0.0.1:{}", forward.local.port());
    let path = action.strip_prefix(&prefix).expect("posts to the forward");
    let logged_in = post_form(forward.local, path, &format!("password={password}"));
    assert!(logged_in.starts_with("HTTP/1.1 302"), "{logged_in}");
    assert_eq!(
        header(&logged_in, "Location:"),
        Some("./?folder=/home/work"),
        "{logged_in}"
    );
    let cookie = header(&logged_in, "Set-Cookie:")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.starts_with("code-server-session="), "{cookie}");
    let workbench = get(forward.local, "/?folder=/home/work", Some(&cookie));
    assert!(
        workbench.starts_with("HTTP/1.1 200"),
        "{}",
        &workbench[..workbench.len().min(300)]
    );
    assert!(
        workbench.contains("workbench-web-configuration"),
        "the workbench"
    );
    // Refused without the cookie, and with a wrong password.
    let anonymous = get(forward.local, "/?folder=/home/work", None);
    assert!(anonymous.starts_with("HTTP/1.1 302"), "{anonymous}");
    assert!(
        header(&anonymous, "Location:").is_some_and(|l| l.contains("/login")),
        "{anonymous}"
    );
    let wrong = post_form(forward.local, path, "password=not-the-password");
    assert!(header(&wrong, "Set-Cookie:").is_none(), "{wrong}");
    // The password is in no command line in the session (another user could read those).
    let cmdlines = running.ok("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '");
    assert!(
        !cmdlines.contains(password),
        "the password is in a command line"
    );

    // Opened again: the same code-server, not a second one.
    let again = rt
        .block_on(fixture.engine.open_app(&session.id, "code-server", None))
        .unwrap();
    assert_eq!(again.record.port, forward.record.port);
    assert!(
        again
            .login_page
            .as_deref()
            .is_some_and(|p| p.contains(password))
    );
    drop((forward, again));
    running.destroy();
}
