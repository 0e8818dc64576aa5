//! JupyterLab in a local session, as a user gets it: installed from the package index into a
//! folder in one session, then, in the next session with that folder on `PYTHONPATH`, listed
//! among the session's apps, started on demand and opened already logged in — the token in the
//! way in Berth hands the browser, and a request without it refused. Opening it again finds the
//! one running. The same on the Docker-API runtime.

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
    let spec = tools_on_pythonpath("host");
    let session = rt.block_on(fixture.engine.create_session(spec)).unwrap();
    let running = Running {
        fixture: &fixture,
        id: session.id.clone(),
    };
    assert_eq!(app_names(&rt, &fixture, &session.id), ["ssh", "jupyterlab"]);

    opens_logged_in(&rt, &fixture, &session.id, |script| running.ok(script));
    running.destroy();
}

/// The same on the Docker-API runtime (real Podman, an image made of this machine's Python,
/// no network): JupyterLab from a folder on `PYTHONPATH`, found, started and opened logged in
/// through the exec relay a Docker session's ports use.
#[test]
fn jupyterlab_in_a_docker_session_is_offered_started_and_opened_logged_in() {
    let Some((podman, fixture)) = crate::docker::engine_on_podman() else {
        return;
    };
    podman.import(
        "berth-test:python",
        crate::environments::base_layer_with(crate::environments::python_files()),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let folder = rt
        .block_on(fixture.engine.create_folder(NewFolder::named("tools")))
        .unwrap();
    // Installed from the package index on this computer straight into the folder (the test
    // above installs it from inside a session; here the session has no network).
    let installed = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(fixture.engine.folder_path(&folder))
        .arg("jupyterlab")
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let spec = tools_on_pythonpath("docker:localhost/berth-test:python");
    let session = crate::docker::docker_session_of(&fixture, spec);
    let running = Running {
        fixture: &fixture,
        id: session.id.clone(),
    };
    assert_eq!(app_names(&rt, &fixture, &session.id), ["ssh", "jupyterlab"]);
    opens_logged_in(&rt, &fixture, &session.id, |script| running.ok(script));
    running.destroy();
}

/// JupyterLab of running session `id` opened as the window opens it: started, reached on this
/// computer's loopback already logged in (the token in the way in), refused without the token,
/// the token in no command line in the session (`run` runs a script there), and the same one
/// found when opened again.
fn opens_logged_in(
    rt: &tokio::runtime::Runtime,
    fixture: &crate::Fixture,
    id: &str,
    run: impl Fn(&str) -> String,
) {
    let forward = rt
        .block_on(fixture.engine.open_app(id, "jupyterlab", None))
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
    let cmdlines = run("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '");
    assert!(!cmdlines.contains(&token), "the token is in a command line");

    // Opened again: the same JupyterLab, not a second one.
    let again = rt
        .block_on(fixture.engine.open_app(id, "jupyterlab", None))
        .unwrap();
    assert_eq!(again.open_path, forward.open_path);
    assert_eq!(again.record.port, forward.record.port);
}

/// A session on `environment` with folder "tools" mounted and on `PYTHONPATH`, and no network.
fn tools_on_pythonpath(environment: &str) -> NewSession {
    let mut spec = NewSession::interactive(environment, vec![MountRequest::folder("tools")]);
    spec.network = NetworkMode::None;
    spec.environ = vec![EnvVar {
        name: "PYTHONPATH".into(),
        value: "/home/work/tools".into(),
    }];
    spec
}

/// The names of the apps running session `id` offers.
pub(crate) fn app_names(
    rt: &tokio::runtime::Runtime,
    fixture: &crate::Fixture,
    id: &str,
) -> Vec<String> {
    rt.block_on(fixture.engine.session_apps(id))
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect()
}
