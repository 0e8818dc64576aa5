//! JupyterLab in a local session, as a user gets it: installed from the package index into a
//! folder in one session, then, in the next session with that folder on `PYTHONPATH`, listed
//! among the session's apps, started on demand and opened already logged in — the token in the
//! way in Berth hands the browser, and a request without it refused. Opening it again finds the
//! one running.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use berth_core::{Engine, EnvVar, MountRequest, NetworkMode, NewFolder, NewSession};

use crate::{Running, engine};

fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn jupyterlab_from_a_folder_is_offered_started_and_opened_logged_in() {
    let fixture = engine();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(fixture.engine.create_folder(NewFolder::named("tools")))
        .unwrap();

    // Installed from the package index into the folder, in a session with a network.
    let installer = rt
        .block_on(fixture.engine.create_session(NewSession::interactive(
            "host",
            vec![MountRequest::folder("tools")],
        )))
        .unwrap();
    let installer = Running {
        fixture: &fixture,
        id: installer.id,
    };
    let before =
        installer.ok("python3 -c 'import jupyterlab' 2>/dev/null && echo found || echo missing");
    assert_eq!(before, "missing\n", "the host has no JupyterLab of its own");
    installer.ok("python3 -m pip install -q --disable-pip-version-check --target /home/work/tools jupyterlab 2>&1 | grep -v WARNING || true; python3 -c 'import sys; sys.path.insert(0, \"/home/work/tools\"); import jupyterlab'");
    let apps = rt
        .block_on(fixture.engine.session_apps(&installer.id))
        .unwrap();
    assert_eq!(
        apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["ssh"],
        "not on this session's path"
    );
    installer.destroy();

    // The next session has the folder on its Python path, and no network at all.
    let mut spec = NewSession::interactive("host", vec![MountRequest::folder("tools")]);
    spec.network = NetworkMode::None;
    spec.environ = vec![EnvVar {
        name: "PYTHONPATH".into(),
        value: "/home/work/tools".into(),
    }];
    let session = rt.block_on(fixture.engine.create_session(spec)).unwrap();
    let running = Running {
        fixture: &fixture,
        id: session.id.clone(),
    };
    let apps = rt
        .block_on(fixture.engine.session_apps(&session.id))
        .unwrap();
    assert_eq!(
        apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["ssh", "jupyterlab"]
    );

    let forward = rt
        .block_on(fixture.engine.open_app(&session.id, "jupyterlab", None))
        .unwrap();
    assert_eq!(forward.record.app.as_deref(), Some("jupyterlab"));
    assert!(
        forward.open_path.starts_with("/lab?token="),
        "{}",
        forward.open_path
    );
    let token = forward
        .open_path
        .trim_start_matches("/lab?token=")
        .to_owned();
    assert_eq!(token.len(), 32);
    // Logged in through the way Berth opens it; refused without the token.
    let page = get(forward.local, &forward.open_path);
    assert!(
        page.starts_with("HTTP/1.1 200"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(
        page.contains("JupyterLab"),
        "{}",
        &page[..page.len().min(300)]
    );
    let anonymous = get(forward.local, "/api/contents");
    assert!(
        anonymous.starts_with("HTTP/1.1 403"),
        "{}",
        &anonymous[..anonymous.len().min(300)]
    );
    // The token is in no command line in the session (another user could read those).
    let cmdlines = running.ok("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '");
    assert!(!cmdlines.contains(&token), "the token is in a command line");

    // Opened again: the same JupyterLab, not a second one.
    let again = rt
        .block_on(fixture.engine.open_app(&session.id, "jupyterlab", None))
        .unwrap();
    assert_eq!(again.open_path, forward.open_path);
    assert_eq!(again.record.port, forward.record.port);
    drop((forward, again));
    running.destroy();
}
