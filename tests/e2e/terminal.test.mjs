// Terminal tabs in the window on a real session: several tabs per session, resizes reaching
// the PTY, copy and paste, flow control under a flood of output, the tab's end when the shell
// exits, and the colours following the desktop's light or dark theme.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, click, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const CONTROL = "\uE009";
const SHIFT = "\uE008";
const TEXTAREA = "[data-testid=terminal]:not([hidden]) .xterm-helper-textarea";

const lines = (app) =>
  run(
    app,
    `const term = document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-box')?.__xterm;
     if (!term) return null;
     const b = term.buffer.active, out = [];
     for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
     return out;`,
  );
const waitLines = (app, what, predicate, ms = 15_000) =>
  until(what, async () => {
    const got = await lines(app);
    return got && predicate(got) ? got : null;
  }, ms);
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
      const started = Date.now();
      assert.equal(await run(app, "return 1 + 1;"), 2, "the page answers during the flood");
      assert.ok(Date.now() - started < 2000, "and quickly");
      await typeInto(app, TEXTAREA, `${CONTROL}c${CONTROL}`);
      await typeLine(app, "echo after-the-flood");
      await waitLines(app, "the prompt back", (l) => l.some((x) => x.trim() === "after-the-flood"), 20_000);
      await screenshot(app, "terminal-tabs");

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
