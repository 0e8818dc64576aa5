// Terminal tabs in the window on a real session: several tabs per session, resizes reaching
// the PTY, copy and paste, flow control under a flood of output, the tab's end when the shell
// exits, and the colours following the desktop's light or dark theme.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { clear, cli, click, invoke, run, screenshot, terminalLines, textOf, typeInto, until, waitForLines, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const CONTROL = "\uE009";
const SHIFT = "\uE008";
const TEXTAREA = "[data-testid=terminal]:not([hidden]) .xterm-helper-textarea";

const lines = (app) => terminalLines(app);
const waitLines = (app, what, predicate, ms = 15_000) => waitForLines(app, what, predicate, ms);
const typeLine = (app, text) => typeInto(app, TEXTAREA, text + ENTER);

async function startSession(app, name) {
  const session = await run(
    app,
    "return window.__TAURI_INTERNALS__.invoke('create_session', { spec: { name: arguments[0], session_type: 'interactive', environment: 'host', mounts: [], command: null, runtime: null } });",
    name,
  );
  assert.equal(session.status, "running");
  return session;
}

async function openTerminal(app, name) {
  await click(app, "button[data-page=sessions]");
  await click(app, `tr[data-session="${name}"] [data-testid=session-link]`);
  await waitForText(app, "[data-testid=drawer-status]", "Running");
  await click(app, "[data-testid=execute-terminal]");
  await until("the shell", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "open");
  await waitLines(app, "a prompt", (l) => l.some((x) => x.includes("$")));
}

test("terminal tabs: two per session, resize reaches the PTY, copy and paste, a flood stays responsive, exit is shown", async () => {
  await withApp("terminal", {}, async (app) => {
    await waitForText(app, "nav", "");
    const session = await startSession(app, "tabs");
    try {
      await openTerminal(app, "tabs");
      await openTerminal(app, "tabs");
      assert.deepEqual(
        (await run(app, "return [...document.querySelectorAll('[data-testid=terminal-tab]')].map((t) => t.innerText.trim());")),
        ["tabs #1", "tabs #2"],
      );
      assert.equal(await textOf(app, "[data-testid=terminal-count]"), "2");

      // The PTY has the size xterm.js fitted to its box, and follows when the box changes.
      const size = () => run(app, "const t = document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-box').__xterm; return [t.rows, t.cols];");
      const [rows, cols] = await size();
      await typeLine(app, "stty size");
      await waitLines(app, "stty's answer", (l) => l.some((x) => x.trim() === `${rows} ${cols}`));
      await run(app, "document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-box').style.maxWidth = '500px'; return true;");
      await until("a narrower terminal", async () => (await size())[1] < cols);
      const [, narrow] = await size();
      await typeLine(app, "clear; stty size");
      await waitLines(app, "the new size in the PTY", (l) => l.some((x) => x.trim() === `${rows} ${narrow}`));
      await run(app, "document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-box').style.maxWidth = ''; return true;");

      // Copy (Ctrl+Shift+C) a selection, paste it back (Ctrl+Shift+V) as input.
      await typeLine(app, "clear; echo copy-me-7431");
      await waitLines(app, "the echo", (l) => l.some((x) => x.trim() === "copy-me-7431"));
      await run(
        app,
        `const t = document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-box').__xterm;
         const b = t.buffer.active;
         for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).trim() === 'copy-me-7431') { t.select(0, i, 12); break; }
         return t.getSelection();`,
      );
      await typeInto(app, TEXTAREA, `${CONTROL}${SHIFT}c${SHIFT}${CONTROL}`);
      await typeInto(app, TEXTAREA, "echo pasted:");
      await typeInto(app, TEXTAREA, `${CONTROL}${SHIFT}v${SHIFT}${CONTROL}`);
      await typeInto(app, TEXTAREA, ENTER);
      await waitLines(app, "the pasted text echoed", (l) => l.some((x) => x.trim() === "pasted:copy-me-7431"));

      // A flood of output: the UI keeps acknowledging, Ctrl+C gets through, the prompt returns.
      await typeLine(app, "clear; yes berth-flood");
      await waitLines(app, "the flood", (l) => l.filter((x) => x === "berth-flood").length > 10);
      await new Promise((r) => setTimeout(r, 2000));
      // A page stuck behind the flood would not answer before the driver's script timeout.
      assert.equal(await run(app, "return 1 + 1;"), 2, "the page answers during the flood");
      await typeInto(app, TEXTAREA, `${CONTROL}c${CONTROL}`);
      await typeLine(app, "echo after-the-flood");
      await waitLines(app, "the prompt back", (l) => l.some((x) => x.trim() === "after-the-flood"), 20_000);
      await screenshot(app, "terminal-tabs");

      // A shell that says nothing for a while (slow login files): the tab says so rather than
      // sit blank, and stops saying it once the prompt comes.
      await typeLine(app, "echo 'sleep 8' >> ~/.bashrc && echo slow-$((6*7))");
      await waitLines(app, "the slow .bashrc", (l) => l.some((x) => x.trim() === "slow-42"));
      await click(app, "button[data-page=sessions]");
      await click(app, "[data-testid=execute-terminal]");
      await waitForText(app, "[data-testid=terminal]:not([hidden]) [data-testid=terminal-silent]", "Nothing has come from tabs yet.", 7_000);
      await screenshot(app, "terminal-silent");
      await waitLines(app, "the late prompt", (l) => l.some((x) => x.includes("$")), 20_000);
      await until("the notice gone", async () => (await textOf(app, "[data-testid=terminal]:not([hidden]) [data-testid=terminal-silent]")) === null);
      await typeLine(app, "sed -i '/^sleep 8$/d' ~/.bashrc; exit");
      await until("the third shell gone", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "exited");
      await click(app, ".tab.active [data-testid=close-terminal-tab]");
      await until("two tabs again", async () => (await run(app, "return document.querySelectorAll('[data-testid=terminal-tab]').length;")) === 2);

      // Closing a tab hangs up its shell; the other tab keeps working.
      await click(app, "[data-testid=close-terminal-tab]");
      await until("one tab left", async () => (await run(app, "return document.querySelectorAll('[data-testid=terminal-tab]').length;")) === 1);
      await typeLine(app, "echo still-here; exit 3");
      await waitLines(app, "the exit line", (l) => l.some((x) => x.includes("[exited (status 3)]")));
      assert.equal(await run(app, "return document.querySelector('[data-testid=terminal]').dataset.state;"), "exited");
    } finally {
      cli(app, "session", "destroy", session.id);
    }
  });
});

test("terminal scrollback: 1000 lines unless changed in Settings, which refuses more than it can keep; open tabs follow a change", async () => {
  await withApp("scrollback", {}, async (app) => {
    await waitForText(app, "nav", "");
    const session = await startSession(app, "scroll");
    try {
      await openTerminal(app, "scroll");
      const rows = await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-box').__xterm.rows;");
      // More output than it keeps: the tab holds its screen and 1000 lines above it.
      await typeLine(app, "seq 1 3000");
      await waitLines(app, "seq's last line", (l) => l.some((x) => x.trim() === "3000"));
      assert.equal((await lines(app)).length, rows + 1000);

      await click(app, "button[data-page=settings]");
      const input = "input[name=terminal-scrollback]";
      await until("the saved value", async () => (await run(app, "return document.querySelector(arguments[0]).value;", input)) === "1000");
      await clear(app, input);
      await typeInto(app, input, "60000");
      await waitForText(app, "[data-testid=scrollback-help]", "At most 50000 lines");
      assert.equal(await run(app, "return document.querySelector('[data-testid=save-scrollback]').disabled;"), true);
      await clear(app, input);
      await typeInto(app, input, `5000${ENTER}`);
      await waitForText(app, "[data-testid=scrollback-help]", "Saved");
      // The "session ready" toast would cover the section's last line in the picture.
      await run(app, "document.querySelectorAll('[data-testid=toast] .close').forEach((b) => b.click()); return true;");
      await run(app, "document.querySelector('[data-testid=terminal-settings]').scrollIntoView({ block: 'center' }); return true;");
      await screenshot(app, "settings-scrollback");
      // Rust keeps the same rule for any caller, and the value is saved for the next start.
      await assert.rejects(invoke(app, "set_terminal_scrollback", { lines: 50_001 }), /between 0 and 50000 lines, not 50001/);
      const saved = JSON.parse(readFileSync(`${app.home}/config/settings.json`, "utf8"));
      assert.equal(saved.terminal_scrollback, 5000);

      // The open tab took it: now it keeps 5000 lines above its screen.
      await click(app, "button[data-page=terminals]");
      await typeLine(app, "clear; seq 1 8000");
      await waitLines(app, "seq's last line", (l) => l.some((x) => x.trim() === "8000"));
      assert.equal((await lines(app)).length, rows + 5000);
    } finally {
      cli(app, "session", "destroy", session.id);
    }
  });
});

test("terminal colours follow the desktop's dark theme", async () => {
  await withApp("terminal-dark", { env: { GTK_THEME: "Adwaita:dark" } }, async (app) => {
    await waitForText(app, "nav", "");
    assert.equal(await run(app, "return matchMedia('(prefers-color-scheme: dark)').matches;"), true);
    const session = await startSession(app, "dark");
    try {
      await openTerminal(app, "dark");
      assert.equal(
        await run(app, "return document.querySelector('[data-testid=terminal] .xterm-box').__xterm.options.theme.background;"),
        "#12151a",
      );
      await typeLine(app, "ls -la /home/work");
      await waitLines(app, "the listing", (l) => l.some((x) => x.includes("..")));
      await new Promise((r) => setTimeout(r, 1000));
      await screenshot(app, "terminal-dark");
    } finally {
      cli(app, "session", "destroy", session.id);
    }
  });
});

/** The environment of each WebKit web process serving the app whose data directory is `dataDir`. */
function webProcessEnvironments(dataDir) {
  const environ = (pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    } catch {
      return [];
    }
  };
  const parentOf = (pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  };
  const found = [];
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      if (!readFileSync(`/proc/${entry}/comm`, "utf8").startsWith("WebKitWebProces")) continue;
      if (environ(parentOf(entry)).includes(`BERTH_DATA_DIR=${dataDir}`)) found.push(environ(entry));
    } catch {
      /* gone */
    }
  }
  return found;
}

// A 200 MB `cat` left the web process up to +400 MiB when JavaScriptCore sized its heap for
// speed (its choice on machines with 16 GB or more); the app starts WebKit with the growth
// JSC uses on smaller machines (src-tauri/src/web_process.rs; figures in scripts/bench-terminal).
test("the window's web process runs with the terminal-friendly JavaScript heap setting", async () => {
  await withApp("web-process", {}, async (app) => {
    await waitForText(app, "nav", "");
    const environments = webProcessEnvironments(app.dataDir);
    assert.ok(environments.length >= 1, "the app's web process is found");
    for (const environment of environments) {
      assert.ok(environment.includes("JSC_aggressiveHeapThresholdInMB=1048576"), environment.filter((v) => v.startsWith("JSC_")).join(" ") || "no JSC_ option");
    }
  });
});
