// The Settings page end to end with a real session: a .bashrc written there is in effect in a
// new session's terminal, the bootstrap script's output is in that session's logs, leaving with
// unsaved text asks first, and the "session ready" toast opens a terminal in one click.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clear, click, invoke, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const CONTROL = "\uE009";
const disabled = (app, css) => run(app, "return document.querySelector(arguments[0]).disabled;", css);
const page = (app) => run(app, "return document.querySelector('nav [aria-current=page]')?.dataset.page ?? null;");

function terminalLines(app) {
  return run(
    app,
    `const box = document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-box');
     const term = box && box.__xterm;
     if (!term) return null;
     const buffer = term.buffer.active;
     const lines = [];
     for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
     return lines;`,
  );
}

test("settings: a .bashrc and a bootstrap script from the Settings page reach a session launched in the wizard; its ready toast opens a terminal", async () => {
  await withApp("settings", {}, async (app) => {
    await click(app, "button[data-page=settings]");
    await waitForText(app, "[data-testid=dotfiles-empty]", "No dotfiles yet");

    // Add .bashrc: the name is checked as it is typed (a name without the dot is refused).
    await click(app, "[data-testid=add-dotfile]");
    await typeInto(app, "input[name=dotfile-path]", "bashrc");
    await waitForText(app, "[data-testid=dotfile-path-help]", "'.'");
    assert.equal(await disabled(app, "[data-testid=save-dotfile]"), true);
    await clear(app, "input[name=dotfile-path]");
    await typeInto(app, "input[name=dotfile-path]", ".bashrc");
    await until("the name accepted", async () => (await run(app, "return document.querySelector('input[name=dotfile-path]').getAttribute('aria-invalid');")) === null);
    assert.equal(await run(app, "return document.querySelector('input[name=dotfile-mode]').value;"), "644");
    await typeInto(app, "textarea[name=dotfile-content]", "export PYTHONPATH=/home/work/libs");
    await screenshot(app, "settings-dotfile-editor");
    // Ctrl+S saves from the keyboard.
    await typeInto(app, "textarea[name=dotfile-content]", `${CONTROL}s${CONTROL}`);
    await waitForText(app, "tr[data-dotfile='.bashrc']", "644");
    assert.equal(await textOf(app, "[data-testid=dotfile-editor]"), null, "the editor closes once saved");
    assert.deepEqual(await invoke(app, "list_dotfiles", {}), [{ path: ".bashrc", content: "export PYTHONPATH=/home/work/libs", mode: 0o644 }]);

    // The bootstrap script: unsaved text holds the way out until the user decides.
    await typeInto(app, "textarea[name=bootstrap-script]", `echo BOOTSTRAP-MARKER-$((6*7))${ENTER}`);
    await waitForText(app, "[data-testid=bootstrap-state]", "Unsaved changes");
    await click(app, "button[data-page=sessions]");
    await waitForText(app, "[data-testid=unsaved-question]", "bootstrap script");
    await screenshot(app, "settings-unsaved-question");
    await click(app, "[data-testid=cancel-button]");
    assert.equal(await page(app), "settings", "Keep editing stays");
    await click(app, "[data-testid=save-bootstrap]");
    await waitForText(app, "[data-testid=bootstrap-state]", "Saved");
    assert.equal(await invoke(app, "bootstrap_script", {}), "echo BOOTSTRAP-MARKER-$((6*7))\n");
    await screenshot(app, "settings-saved");

    // Launch an interactive session through the wizard with the defaults.
    await click(app, "button[data-page=sessions]");
    assert.equal(await page(app), "sessions", "nothing unsaved: no question");
    await click(app, "[data-testid=start-first-session]");
    await typeInto(app, "[data-testid=session-name]", "settings-e2e");
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=launcher-environments]", "This computer");
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=no-folder-warning]", "lost when the session ends");
    await until("the mounts checked", async () => !(await disabled(app, "[data-testid=launcher-next]")));
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=review-network]", "Outbound");
    await click(app, "[data-testid=launch]");

    // The toast says it is ready and opens a terminal tab on it.
    await waitForText(app, "[data-testid=toast][data-kind=session-ready]", "Session settings-e2e is ready", 20_000);
    await waitForText(app, "[data-testid=drawer-network]", "Outbound");
    await screenshot(app, "session-ready-toast");
    await click(app, "[data-testid=toast][data-kind=session-ready] [data-testid=toast-action]");
    assert.equal(await page(app), "terminals");
    await waitForText(app, "[data-testid=terminal-tab]", "settings-e2e #1");
    assert.equal(await textOf(app, "[data-testid=toast]"), null, "the toast goes once used");
    await until("the shell", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "open");
    await until("a prompt", async () => (await terminalLines(app))?.some((l) => l.trim() !== ""));
    await typeInto(app, "[data-testid=terminal]:not([hidden]) .xterm-helper-textarea", `echo "PP=$PYTHONPATH"${ENTER}`);
    await until("PYTHONPATH from .bashrc", async () => (await terminalLines(app))?.some((l) => l.trim() === "PP=/home/work/libs"));
    await screenshot(app, "settings-terminal-pythonpath");

    // The drawer's logs show what the bootstrap script printed.
    await click(app, "button[data-page=sessions]");
    await until("the marker in the logs", async () => {
      await click(app, "[data-testid=refresh-logs]");
      return (await textOf(app, "[data-testid=session-logs]"))?.includes("BOOTSTRAP-MARKER-42");
    });
    await screenshot(app, "settings-session-logs");
    const id = await run(app, "return document.querySelector('[data-testid=session-drawer]').dataset.session;");
    await invoke(app, "destroy_session", { id });
  });
});
