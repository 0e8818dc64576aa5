// End-to-end harness: the real Berth window under Xvfb, driven through WebDriver (tauri-driver
// in front of Debian's WebKitWebDriver). Every WebDriver call is time-boxed, screenshots come
// from the X display (WebKitWebDriver's screenshot endpoint hangs), and Xvfb, the driver and
// the app are always stopped, by process group, even when a test fails.
import { spawn, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOT_DIR = join(ROOT, "target/e2e-screenshots");
const APP = process.env.BERTH_APP ?? join(ROOT, "target/debug/berth-app");
export const CLI = process.env.BERTH_CLI ?? join(ROOT, "target/debug/berth");
const TAURI_DRIVER =
  process.env.TAURI_DRIVER ??
  [join(ROOT, "target/tools/bin/tauri-driver"), join(process.env.HOME ?? "/root", ".cargo/bin/tauri-driver")].find(
    existsSync,
  );
const NATIVE_DRIVER = process.env.WEBKIT_WEBDRIVER ?? "/usr/bin/WebKitWebDriver";
const CALL_TIMEOUT_MS = 15_000;
const SCREEN = { width: 1280, height: 800 };
export const WINDOW = { width: 1200, height: 760 };

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

export function freeDisplay() {
  for (let n = 90; n < 190; n++) {
    if (!existsSync(`/tmp/.X11-unix/X${n}`) && !existsSync(`/tmp/.X${n}-lock`)) return n;
  }
  throw new Error("no free X display number between :90 and :189");
}

export async function until(what, probe, timeoutMs = 20_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/** Starts a process in its own process group so stop() can take down all it spawned. */
export function launch(command, args, env, logName, logs) {
  const child = spawn(command, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  logs[logName] = lines;
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      lines.push(chunk);
      if (lines.length > 400) lines.shift();
    });
  }
  return child;
}

function killGroup(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    /* already gone */
  }
}

async function waitExit(child, ms) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await Promise.race([new Promise((r) => child.once("exit", r)), new Promise((r) => setTimeout(r, ms))]);
  if (child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

/** Starts Xvfb on `:display` (its own process group) and waits for its socket. */
export async function startXvfb(display, logs = {}) {
  const xvfb = launch(
    "Xvfb",
    [`:${display}`, "-screen", "0", `${SCREEN.width}x${SCREEN.height}x24`, "-nolisten", "tcp"],
    process.env,
    "xvfb",
    logs,
  );
  await until(`Xvfb on :${display}`, () => existsSync(`/tmp/.X11-unix/X${display}`), 10_000);
  return xvfb;
}

/** Stops processes started by this harness, whole process groups, SIGKILL after `ms`. */
export async function stopAll(processes, ms = 3_000) {
  for (const child of [...processes].reverse()) killGroup(child);
  await Promise.all(processes.map((child) => waitExit(child, ms)));
}

/**
 * A private D-Bus session bus with a notification daemon (dunst) on display `:display`, so the
 * app's desktop notifications land somewhere a test can read them, and never on the desktop of
 * whoever runs the tests. Returns the bus address; both processes join `processes`.
 */
async function startNotificationDaemon(display, home, processes, logs) {
  const env = { ...process.env, DISPLAY: `:${display}` };
  const bus = launch("dbus-daemon", ["--session", "--nofork", "--nopidfile", "--print-address=1"], env, "dbus", logs);
  processes.push(bus);
  const address = await until("the D-Bus session bus", () => (logs.dbus.join("").match(/^(unix:\S+)$/m) ?? [])[1], 10_000);
  const config = join(home, "dunstrc");
  writeFileSync(config, "[global]\n    history_length = 100\n");
  const daemonEnv = { ...env, DBUS_SESSION_BUS_ADDRESS: address };
  processes.push(launch("dunst", ["-config", config], daemonEnv, "dunst", logs));
  await until("dunst on the bus", () => {
    try {
      execFileSync("dunstctl", ["is-paused"], { env: daemonEnv, stdio: "pipe", timeout: 2_000 });
      return true;
    } catch {
      return false;
    }
  }, 10_000, 200);
  return address;
}

/**
 * The desktop notifications the app has sent so far, oldest first, as `{summary, body}`: the
 * ones on screen are closed into dunst's history, then the history is read.
 */
export function notifications(app) {
  const env = { ...process.env, DISPLAY: app.display, DBUS_SESSION_BUS_ADDRESS: app.busAddress };
  execFileSync("dunstctl", ["close-all"], { env, timeout: 5_000 });
  const history = JSON.parse(execFileSync("dunstctl", ["history"], { env, encoding: "utf8", timeout: 5_000 }));
  return (history.data?.[0] ?? [])
    .map((n) => ({ id: n.id?.data, summary: n.summary?.data ?? "", body: n.body?.data ?? "" }))
    .sort((a, b) => a.id - b.id);
}

/**
 * Asks the app's window to close the way a window manager's close button does (WebDriver's
 * close destroys the webview instead, bypassing the app's close handling).
 */
export function requestClose(app, title = "Berth") {
  execFileSync("/usr/bin/python3", [join(ROOT, "tests/e2e/close-window.py"), title], {
    env: { ...process.env, DISPLAY: app.display },
    timeout: 10_000,
  });
}

/** Whether a window titled `title` is on the app's display. */
export function windowExists(app, title = "Berth") {
  try {
    execFileSync("/usr/bin/python3", [join(ROOT, "tests/e2e/close-window.py"), "--exists", title], {
      env: { ...process.env, DISPLAY: app.display },
      stdio: "pipe",
      timeout: 10_000,
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the app binary a second time on the same display, bus and data, as a user launching
 * Berth again would (with `args`: a berth:// link the desktop passes on); returns once that
 * second process has exited (it should hand over to the running one and quit).
 */
export function launchAgain(app, args = []) {
  execFileSync(APP, args, {
    env: {
      ...process.env,
      DISPLAY: app.display,
      DBUS_SESSION_BUS_ADDRESS: app.busAddress,
      BERTH_DATA_DIR: app.dataDir,
      BERTH_RUNTIME_DIR: app.runtimeDir,
      BERTH_CONFIG_DIR: join(app.home, "config"),
    },
    stdio: "pipe",
    timeout: 20_000,
  });
}

/** Whether a window titled `title` is on screen (exists and is not hidden). */
export function windowShown(app, title = "Berth") {
  try {
    execFileSync("/usr/bin/python3", [join(ROOT, "tests/e2e/close-window.py"), "--mapped", title], {
      env: { ...process.env, DISPLAY: app.display },
      stdio: "pipe",
      timeout: 10_000,
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * A running app in a fresh X display with its own data directory and its own D-Bus session bus
 * with a notification daemon. `env` adds variables for the app (BERTH_DATA_DIR and friends
 * default to a new temporary directory).
 */
export async function openApp({ env = {}, args = [] } = {}) {
  if (!existsSync(APP)) throw new Error(`${APP} is missing: build it first (make build)`);
  if (!TAURI_DRIVER) throw new Error("tauri-driver is missing: make tools installs it");
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-"));
  // Searchable (not listable) by others: when the tests run as root, sessions run as an
  // unprivileged uid whose sandbox must reach the folders under the data directory here.
  chmodSync(home, 0o711);
  // Session supervisors' sockets, fresh per app so tests never see each other's sessions. When
  // the tests run as root, sessions run as an unprivileged uid, which must be able to reach
  // this directory: 0755, and outside `home` (0700).
  const runtimeDir = env.BERTH_RUNTIME_DIR ?? mkdtempSync(join(tmpdir(), "berth-e2e-run-"));
  chmodSync(runtimeDir, 0o755);
  const display = freeDisplay();
  const logs = {};
  const app = {
    home,
    display: `:${display}`,
    dataDir: env.BERTH_DATA_DIR ?? join(home, "data"),
    runtimeDir,
    logs,
    processes: [],
    session: null,
    base: null,
    busAddress: null,
  };
  try {
    app.processes.push(await startXvfb(display, logs));
    app.busAddress = await startNotificationDaemon(display, home, app.processes, logs);

    const port = await freePort();
    const nativePort = await freePort();
    const driverEnv = {
      ...process.env,
      DISPLAY: `:${display}`,
      NO_AT_BRIDGE: "1",
      WEBKIT_DISABLE_COMPOSITING_MODE: "1",
      BERTH_DATA_DIR: app.dataDir,
      BERTH_RUNTIME_DIR: runtimeDir,
      BERTH_CONFIG_DIR: join(home, "config"),
      XDG_CONFIG_HOME: join(home, "xdg-config"),
      XDG_DATA_HOME: join(home, "xdg-data"),
      XDG_CACHE_HOME: join(home, "xdg-cache"),
      DBUS_SESSION_BUS_ADDRESS: app.busAddress,
      // No Docker-API engine unless a test brings one: the machine's own Podman service (the
      // Backend.AI peer's real agent runs one) must not add its images to the window's lists.
      DOCKER_HOST: `unix://${join(home, "no-docker-engine.sock")}`,
      // "Open in browser" goes through xdg-open, which on a desktop-less display runs $BROWSER:
      // nothing, rather than a real browser no test would close.
      BROWSER: "/bin/true",
      ...env,
    };
    const driver = launch(
      TAURI_DRIVER,
      ["--port", String(port), "--native-port", String(nativePort), "--native-driver", NATIVE_DRIVER],
      driverEnv,
      "tauri-driver",
      logs,
    );
    app.processes.push(driver);
    app.base = `http://127.0.0.1:${port}`;
    await until("tauri-driver", async () => (await fetch(`${app.base}/status`)).ok, 15_000, 200);

    const created = await call(app, "POST", "/session", {
      capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application: APP, args } } },
    });
    app.session = created.sessionId;
    return app;
  } catch (error) {
    await closeApp(app);
    error.message += `\n--- driver log ---\n${(logs["tauri-driver"] ?? []).join("").slice(-3000)}`;
    throw error;
  }
}

/**
 * Runs the CLI on the app's data, runtime and config directories and its bus, as the app sees
 * them (a profile the window saved is the CLI's, and one chosen on the machine running the
 * tests cannot send it elsewhere); returns its stdout. A last argument `{ input }` is its stdin.
 */
export function cli(app, ...args) {
  const input = typeof args.at(-1) === "object" ? args.pop().input : undefined;
  return execFileSync(CLI, ["--data-dir", app.dataDir, ...args], {
    encoding: "utf8",
    input,
    env: {
      ...process.env,
      BERTH_RUNTIME_DIR: app.runtimeDir,
      BERTH_CONFIG_DIR: join(app.home, "config"),
      DBUS_SESSION_BUS_ADDRESS: app.busAddress,
    },
  });
}

/** The test peer's user (scripts/backendai-peer) and the webserver address the app logs in at. */
export const PEER = { endpoint: "127.0.0.1:8090", email: "user@lablup.com", password: "C8qnIo29" };

/**
 * Adds the peer as profile `peer` with the CLI and switches the window to it from the status
 * bar, for tests about what happens on a cluster rather than about logging in
 * (profiles.test.mjs walks the dialog).
 */
export async function useCluster(app) {
  cli(app, "profile", "add", "peer", "--endpoint", PEER.endpoint, "--email", PEER.email, { input: `${PEER.password}\n` });
  await click(app, "[data-testid=engine-switch]");
  await click(app, "[data-testid=engine-menu] button[data-profile=peer]");
  await until("the cluster in the status bar", () =>
    run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'backend_ai';"),
  );
}

/**
 * Creates session `name` on the cluster the window is on, in the peer's real-kernel resource
 * group, as the launcher does (its steps are walked in profiles.test.mjs), with `extra` added
 * to the spec; returns the session. Started, then awaited by polling: a real kernel can take
 * longer to be scheduled than one WebDriver call may last.
 */
export async function launchOnRealKernel(app, name, extra = {}) {
  await run(
    app,
    `window.__created = null;
     window.__TAURI_INTERNALS__.invoke('create_session', { spec: { name: arguments[0], session_type: 'interactive', environment: arguments[1], mounts: [], command: null, runtime: null, resource_group: 'podman', resources: { cpus: 1, memory_bytes: 1073741824, scratch_bytes: null }, ...arguments[2] } })
       .then((s) => { window.__created = { ok: s }; }, (e) => { window.__created = { error: e }; });
     return true;`,
    name,
    REAL_IMAGE,
    extra,
  );
  let created = null;
  await until("the cluster answered the create", async () => (created = await run(app, "return window.__created;")) !== null, 240_000, 500);
  if (!created.ok) throw new Error(`the session did not start on a real kernel: ${JSON.stringify(created.error)}`);
  return created.ok;
}

/** The peer's real-kernel image (scripts/backendai-peer, resource group podman). */
export const REAL_IMAGE = "cr.backend.ai/stable/python:3.11-debian12";

/** The visible terminal (or the one `selector` names): its lines as xterm.js holds them. */
export function terminalLines(app, selector = "[data-testid=terminal]:not([hidden])") {
  return run(
    app,
    `const term = document.querySelector(arguments[0] + ' .xterm-box')?.__xterm;
     if (!term) return null;
     const b = term.buffer.active, out = [];
     for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
     return out;`,
    selector,
  );
}

/** Waits until `predicate` holds for the terminal's lines; returns them. */
export function waitForLines(app, what, predicate, timeoutMs = 15_000, selector = undefined) {
  return until(what, async () => {
    const got = await terminalLines(app, selector);
    return got && predicate(got) ? got : null;
  }, timeoutMs);
}

/**
 * Sessions still running in the app's runtime directory (a session's directory holds its
 * supervisor's socket and goes away when the session is destroyed; `etc-*` is shared state,
 * `forwards` the list of open port forwards).
 */
export function leftoverSessions(app) {
  try {
    return readdirSync(app.runtimeDir).filter((name) => !name.startsWith("etc-") && name !== "forwards");
  } catch {
    return [];
  }
}

/**
 * Fails when a test left a session running (a supervisor owned by another uid would outlive
 * the test), after destroying what is left so the machine stays clean either way.
 */
async function checkNoSessionsLeft(app) {
  if (!app.runtimeDir) return;
  // A destroy in flight finishes within moments; give it those.
  await until("sessions to end", () => leftoverSessions(app).length === 0, 5_000).catch(() => {});
  const left = leftoverSessions(app);
  for (const id of left) {
    try {
      cli(app, "session", "destroy", id);
    } catch {
      /* reported below */
    }
  }
  if (left.length > 0) throw new Error(`the test left sessions running: ${left.join(", ")} (destroyed now)`);
}

/** Ends the WebDriver session and stops the app, the driver and Xvfb. Never throws. */
export async function closeApp(app) {
  if (app.session) {
    try {
      await call(app, "DELETE", `/session/${app.session}`, undefined, 5_000);
    } catch {
      /* the driver may be gone already; the process group kill below covers it */
    }
    app.session = null;
  }
  await stopAll(app.processes);
  // The runtime directory holds only shared state once no session is left (scripts that use
  // openApp/closeApp directly destroy their sessions themselves).
  if (app.runtimeDir && leftoverSessions(app).length === 0) rmSync(app.runtimeDir, { recursive: true, force: true });
}

async function call(app, method, path, body, timeoutMs = CALL_TIMEOUT_MS) {
  const response = await fetch(`${app.base}${path}`, {
    method,
    headers: body ? { "content-type": "application/json" } : undefined,
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const detail = parsed.value?.message ?? text;
    throw new Error(`WebDriver ${method} ${path} → ${response.status}: ${detail}`);
  }
  return "value" in parsed ? parsed.value : parsed;
}

// The W3C WebDriver key under which an element reference is returned.
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

/** Runs `script` (a function body) in the window and returns its value. */
export function run(app, script, ...args) {
  return call(app, "POST", `/session/${app.session}/execute/sync`, { script, args });
}

/** Calls a Tauri command as the UI does; a refusal rejects with the command's `{code, message}`. */
export function invoke(app, command, args) {
  return run(app, "return window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1]);", command, args);
}

/** The text of the first element matching `css`, or null when there is none. */
export async function textOf(app, css) {
  return run(app, "const el = document.querySelector(arguments[0]); return el ? el.innerText : null;", css);
}

/** Waits until an element matching `css` exists (and, if given, its text contains `text`). */
export async function waitForText(app, css, text = "", timeoutMs = 15_000) {
  return until(`${css}${text ? ` containing "${text}"` : ""}`, async () => {
    const found = await textOf(app, css);
    return found !== null && found.includes(text) ? found : null;
  }, timeoutMs);
}

/** The WebDriver id of the first element matching `css`, waiting for it to appear. */
async function element(app, css, timeoutMs = 10_000) {
  return until(`an element matching ${css}`, async () => {
    const found = await call(app, "POST", `/session/${app.session}/element`, { using: "css selector", value: css });
    return found[ELEMENT];
  }, timeoutMs);
}

/** Clicks the first element matching `css` through WebDriver, as a user's click. */
export async function click(app, css) {
  await call(app, "POST", `/session/${app.session}/element/${await element(app, css)}/click`, {});
}

/**
 * Opens folder `name` from the Data & Storage page by its row's link, as a user does. A
 * cluster's folder list can still be settling when it first shows, and a click on a row that
 * just moved opens its neighbour: so the list must stay the same for a moment first, and the
 * explorer must then name the folder (tried again up to twice if it names another).
 */
export async function openFolderRow(app, name) {
  const rows = () => run(app, "return [...document.querySelectorAll('tr[data-folder]')].map((r) => r.dataset.folder).join('\\n');");
  for (let attempt = 1; ; attempt += 1) {
    await click(app, "button[data-page=storage]");
    let before = null;
    await until(`the folder list, settled, with ${name}`, async () => {
      const now = await rows();
      const settled = now === before && now.split("\n").includes(name);
      before = now;
      return settled;
    }, 20_000, 300);
    await click(app, `tr[data-folder='${name}'] .folder-link`);
    try {
      await until(`the explorer of ${name}`, async () => (await textOf(app, "[data-testid=crumb-root]")) === name, 5_000);
      return;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

/** Types `text` into the first element matching `css`, key by key, as a user would. */
export async function typeInto(app, css, text) {
  await call(app, "POST", `/session/${app.session}/element/${await element(app, css)}/value`, { text });
}

/**
 * Empties the input matching `css` the way a user does, Ctrl+A then Backspace, so the page sees
 * the input events (WebKitWebDriver's element clear fires none).
 */
export async function clear(app, css) {
  const CONTROL = "\uE009";
  const BACKSPACE = "\uE003";
  await typeInto(app, css, `${CONTROL}a${CONTROL}${BACKSPACE}`);
}

/**
 * Saves what the X display shows, cropped to the window, under target/e2e-screenshots/. Waits
 * for the webview to paint first: the DOM a test just asserted on reaches the screen a frame or
 * two later.
 */
export async function screenshot(app, name) {
  try {
    await call(app, "POST", `/session/${app.session}/execute/async`, {
      script: "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
      args: [],
    }, 5_000);
  } catch {
    /* a failing test's screenshot is still worth taking */
  }
  await new Promise((r) => setTimeout(r, 250));
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = join(SCREENSHOT_DIR, `${name}.png`);
  execFileSync(
    "import",
    ["-display", app.display, "-window", "root", "-crop", `${WINDOW.width}x${WINDOW.height}+0+0`, "+repage", file],
    { timeout: 15_000 },
  );
  return file;
}

/**
 * Runs `body(app)` against a freshly opened app and always closes it; when the body fails, a
 * screenshot named `<name>-FAILED` is kept next to the others before the app goes away.
 */
/**
 * Clicks the review's Launch until the launcher hands over (it is gone): Launch can be held
 * for a moment, and a click on a held button does nothing. Fails at once on a launch error.
 */
export async function launchFromReview(app, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await run(
      app,
      `const b = document.querySelector('[data-testid=launch]');
       if (b === null) return 'gone';
       if (document.querySelector('[data-testid=launch-error]')) return 'error';
       return b.disabled ? 'held' : 'ready';`,
    );
    if (state === "gone") return;
    if (state === "error") throw new Error(`the launch failed: ${await textOf(app, "[data-testid=launch-error]")}`);
    if (Date.now() > deadline) throw new Error(`Launch was still ${state} after ${timeoutMs} ms`);
    if (state === "ready") await click(app, "[data-testid=launch]");
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

export async function withApp(name, options, body) {
  const app = await openApp(options);
  try {
    await body(app);
    await checkNoSessionsLeft(app);
  } catch (error) {
    try {
      const file = await screenshot(app, `${name}-FAILED`);
      error.message += `\n(screenshot of the failure: ${file})`;
    } catch {
      /* the display may be gone; the error itself matters more */
    }
    throw error;
  } finally {
    await closeApp(app);
    // Whatever the body did, no session may outlive the test.
    await checkNoSessionsLeft(app).catch(() => {});
  }
}

/**
 * Presses `keys` (WebDriver key codes, e.g. "\uE007" for Enter) on whatever has the focus, as a
 * user's keyboard does: unlike typeInto, no element is picked (or focused) first. Shift, Control
 * and Alt are held down until the other keys have been pressed ("\uE008\uE010": Shift+End).
 */
export async function pressKeys(app, keys) {
  const MODIFIERS = ["\uE008", "\uE009", "\uE00A"];
  const held = [...keys].filter((key) => MODIFIERS.includes(key));
  const actions = held.map((key) => ({ type: "keyDown", value: key }));
  for (const key of keys) if (!MODIFIERS.includes(key)) actions.push({ type: "keyDown", value: key }, { type: "keyUp", value: key });
  for (const key of held.reverse()) actions.push({ type: "keyUp", value: key });
  await call(app, "POST", `/session/${app.session}/actions`, { actions: [{ type: "key", id: "keyboard", actions }] });
  await call(app, "DELETE", `/session/${app.session}/actions`);
}

/** Moves the mouse pointer onto the middle of the first element matching `css`, and leaves it there. */
export async function hover(app, css) {
  const origin = { [ELEMENT]: await element(app, css) };
  await call(app, "POST", `/session/${app.session}/actions`, {
    actions: [{ type: "pointer", id: "mouse", parameters: { pointerType: "mouse" }, actions: [{ type: "pointerMove", duration: 0, origin, x: 0, y: 0 }] }],
  });
}

/**
 * Types `command` and Enter into the visible terminal through xterm.js (as keys would) and
 * returns the seconds until a line reading `marker` is parsed and the next frames are painted,
 * all measured inside the page (the terminal benches' clock).
 */
export async function typeAndTime(app, command, marker, timeoutMs) {
  await run(
    app,
    `const term = document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-box').__xterm;
     window.__mark = null;
     const sub = term.onWriteParsed(() => {
       const b = term.buffer.active;
       for (let i = Math.max(0, b.baseY + b.cursorY - 3); i <= b.baseY + b.cursorY; i++) {
         if (b.getLine(i)?.translateToString(true).trim() === arguments[1]) {
           sub.dispose();
           requestAnimationFrame(() => requestAnimationFrame(() => (window.__mark = performance.now())));
           return;
         }
       }
     });
     window.__start = performance.now();
     term.input(arguments[0] + "\\r");
     return true;`,
    command,
    marker,
  );
  await until(marker, async () => (await run(app, "return window.__mark;")) !== null, timeoutMs, 250);
  return (await run(app, "return window.__mark - window.__start;")) / 1000;
}
