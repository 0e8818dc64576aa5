//! Session networking against a test host of our own: a network namespace with its own address
//! on a veth pair, serving HTTP (no internet here). Outbound reaches it; the host's loopback
//! services, slirp4netns's gateway and DNS addresses for them, and the host's abstract sockets
//! do not; "no network" reaches nothing. Making a network namespace needs root: CI runs as root,
//! and elsewhere the test says why it stops.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_core::{Engine, NetworkMode, NewSession};

use crate::{Fixture, Running, engine, runtime, sh};

/// A machine on the network, as far as a session can tell: its own netns, address and server.
struct TestHost {
    netns: String,
    address: String,
    server: Child,
    _site: tempfile::TempDir,
}

impl TestHost {
    fn start() -> Option<Self> {
        Self::serving(|_| {})
    }

    /// A test host whose web server also serves what `fill` puts in its site directory.
    fn serving(fill: impl FnOnce(&std::path::Path)) -> Option<Self> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI runs as root and must run the network tests"
            );
            eprintln!(
                "skipped: a test network host needs root (a network namespace and a veth pair)"
            );
            return None;
        }
        // Unique per host, not only per process: the tests in this binary run side by side,
        // and two hosts with one name (or one subnet) would collide.
        static HOSTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = (std::process::id() % 20_000) * 4
            + HOSTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4;
        let netns = format!("berth-t{id}");
        let subnet = 20 + id % 200;
        let (outside, inside) = (format!("bh{id}"), format!("bg{id}"));
        let address = format!("10.231.{subnet}.2");
        let ip = |args: &str| {
            let status = Command::new("ip").args(args.split(' ')).status().unwrap();
            assert!(status.success(), "ip {args}");
        };
        ip(&format!("netns add {netns}"));
        ip(&format!("link add {outside} type veth peer name {inside}"));
        ip(&format!("link set {inside} netns {netns}"));
        ip(&format!("addr add 10.231.{subnet}.1/24 dev {outside}"));
        ip(&format!("link set {outside} up"));
        ip(&format!(
            "netns exec {netns} ip addr add {address}/24 dev {inside}"
        ));
        ip(&format!("netns exec {netns} ip link set {inside} up"));
        ip(&format!("netns exec {netns} ip link set lo up"));
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("index.html"), "TESTHOST-OK\n").unwrap();
        fill(site.path());
        let server = Command::new("ip")
            .args([
                "netns",
                "exec",
                &netns,
                "python3",
                "-m",
                "http.server",
                "8080",
                "--bind",
                &address,
            ])
            .current_dir(site.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let host = Self {
            netns,
            address,
            server,
            _site: site,
        };
        let up = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect((host.address.as_str(), 8080)).is_ok()
        });
        assert!(up, "the test host's server did not come up");
        Some(host)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        // Deleting the namespace deletes its end of the veth pair, and with it ours.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// A "secret" service on the host's loopback, as Berth's own or any local daemon would be.
fn loopback_secret() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 512];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\nHOST-SECRET\n");
        }
    });
    port
}

fn session<'a>(fixture: &'a Fixture, network: NetworkMode) -> Running<'a> {
    let mut spec = NewSession::interactive("host", vec![]);
    spec.network = network;
    let id = runtime()
        .block_on(fixture.engine.create_session(spec))
        .unwrap()
        .id;
    Running { fixture, id }
}

/// Python's urllib, as `pip` would reach an index: prints the body or the error.
fn fetch(url: &str) -> String {
    format!(
        "python3 -c \"import urllib.request as u\ntry: print(u.urlopen('{url}', timeout=3).read().decode().strip())\nexcept Exception as e: print('FAILED', type(e).__name__)\""
    )
}

#[test]
fn outbound_reaches_the_network_but_never_the_hosts_loopback() {
    let Some(host) = TestHost::start() else {
        return;
    };
    let fixture = engine();
    let secret = loopback_secret();
    let id = session(&fixture, NetworkMode::Outbound);

    let out = sh(
        &fixture,
        &id,
        &fetch(&format!("http://{}:8080/", host.address)),
    );
    assert_eq!(out.stdout_text(), "TESTHOST-OK\n", "{}", out.stderr_text());
    assert_eq!(
        sh(&fixture, &id, "cat /etc/resolv.conf").stdout_text(),
        "nameserver 10.0.2.3\n",
        "names go to slirp4netns's forwarder, which asks the host's resolver"
    );
    for via in ["127.0.0.1", "10.0.2.2", "10.0.2.3"] {
        let out = sh(&fixture, &id, &fetch(&format!("http://{via}:{secret}/")));
        assert!(
            out.stdout_text().starts_with("FAILED"),
            "the host's loopback service answered via {via}: {}",
            out.stdout_text()
        );
    }
    // No abstract or path unix sockets of the host: only the header line.
    assert_eq!(
        sh(&fixture, &id, "wc -l < /proc/net/unix").stdout_text(),
        "1\n"
    );

    let tools = slirp_for(&fixture, &id);
    assert_eq!(
        tools.len(),
        1,
        "one slirp4netns serves the session: {tools:?}"
    );

    let isolated = session(&fixture, NetworkMode::None);
    let out = sh(
        &fixture,
        &isolated,
        &fetch(&format!("http://{}:8080/", host.address)),
    );
    assert!(
        out.stdout_text().starts_with("FAILED"),
        "{}",
        out.stdout_text()
    );
    assert!(slirp_for(&fixture, &isolated).is_empty());
    for id in [&id, &isolated] {
        runtime()
            .block_on(fixture.engine.destroy_session(id))
            .unwrap();
    }
    // slirp4netns ended with its session: none is left behind.
    std::thread::sleep(Duration::from_millis(200));
    for pid in tools {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "slirp4netns {pid} outlived its session"
        );
    }
}

/// The slirp4netns processes serving session `id` (its sandbox pid is their argument).
fn slirp_for(fixture: &Fixture, id: &str) -> Vec<String> {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture.engine.session_runtime_dir(id).join("state.json")).unwrap(),
    )
    .unwrap();
    let sandbox = state["sandbox_pid"].to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_tool = args.first()?.ends_with("slirp4netns");
            (is_tool && args.contains(&sandbox))
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// A wheel built here (Python's zipfile, no network) and a PEP 503 simple index for it.
fn package_index(site: &std::path::Path) {
    std::fs::create_dir_all(site.join("simple/berthnet")).unwrap();
    std::fs::create_dir_all(site.join("packages")).unwrap();
    let wheel = site.join("packages/berthnet-1.0-py3-none-any.whl");
    let build = r#"
import base64, hashlib, sys, zipfile
files = {
    "berthnet/__init__.py": "VALUE = 'installed from the index'\n",
    "berthnet-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: berthnet\nVersion: 1.0\n",
    "berthnet-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile(sys.argv[1], "w") as whl:
    for name, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
        whl.writestr(name, data)
    record.append("berthnet-1.0.dist-info/RECORD,,")
    whl.writestr("berthnet-1.0.dist-info/RECORD", "\n".join(record) + "\n")
"#;
    let built = Command::new("python3")
        .args(["-c", build])
        .arg(&wheel)
        .status()
        .unwrap();
    assert!(built.success());
    std::fs::write(
        site.join("simple/berthnet/index.html"),
        "<a href=\"/packages/berthnet-1.0-py3-none-any.whl\">berthnet-1.0-py3-none-any.whl</a>\n",
    )
    .unwrap();
}

/// The seed's `pip install --user tqdm`, offline: a package from an index on the network lands
/// in the `.local` folder in one session and is importable in the next.
#[test]
fn pip_installs_from_an_index_on_the_network_into_local_for_the_next_session() {
    let Some(host) = TestHost::serving(package_index) else {
        return;
    };
    let fixture = engine();
    let rt = runtime();
    rt.block_on(
        fixture
            .engine
            .create_folder(berth_core::NewFolder::named(".local")),
    )
    .unwrap();
    let first = session(&fixture, NetworkMode::Outbound);
    let install = sh(
        &fixture,
        &first,
        &format!(
            "python3 -m pip install --user --quiet --disable-pip-version-check \
             --index-url http://{0}:8080/simple/ --trusted-host {0} berthnet",
            host.address
        ),
    );
    assert_eq!(
        install.code,
        0,
        "{}{}",
        install.stdout_text(),
        install.stderr_text()
    );
    rt.block_on(fixture.engine.destroy_session(&first)).unwrap();

    let next = session(&fixture, NetworkMode::None);
    let import = sh(
        &fixture,
        &next,
        "python3 -c 'import berthnet; print(berthnet.VALUE)'",
    );
    assert_eq!(
        import.stdout_text(),
        "installed from the index\n",
        "{}",
        import.stderr_text()
    );
    rt.block_on(fixture.engine.destroy_session(&next)).unwrap();
}

#[test]
fn a_host_network_session_reaches_the_hosts_loopback_and_takes_terminals_and_execs() {
    // Its network namespace is the host's: joining it for an exec must be skipped, not tried
    // (a root-run Berth's `nobody` sessions cannot join the host's), which once failed every
    // exec and terminal in such a session.
    let fixture = engine();
    let port = loopback_secret();
    let host = session(&fixture, NetworkMode::Host);
    let said = host.ok(&fetch(&format!("http://127.0.0.1:{port}/")));
    assert_eq!(said.trim(), "HOST-SECRET");
}
