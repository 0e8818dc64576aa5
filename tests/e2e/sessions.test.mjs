// The seed walkthrough in the real window with a real sandbox: two folders, a session with
// both mounted, a shell in it, a file written into a mounted folder that outlives the session
// and comes back through a download; on the way, the guide's `.bashrc` example across tabs, a
// file uploaded while the session runs and written by it, and `.linuxbrew`'s one target.
// Plus the launcher's refusals and warnings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clear, cli, click, invoke, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
/** The visible terminal's lines as text (TerminalView exposes its xterm.js instance). */
export function terminalLines(app) {
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

/** Types `line` into the visible terminal (xterm.js listens on its helper textarea) and Enter. */
async function typeLine(app, line) {
  await typeInto(app, "[data-testid=terminal]:not([hidden]) .xterm-helper-textarea", line + ENTER);
}

async function waitForTerminal(app, what, predicate, timeoutMs = 15_000) {
  return until(what, async () => {
    const lines = await terminalLines(app);
    return lines && predicate(lines) ? lines : null;
  }, timeoutMs);
}

test("seed walkthrough: two folders mounted, a file written in the terminal survives the session and downloads", async () => {
  await withApp("seed", {}, async (app) => {
    // user1-ml-test from the Data & Storage page's dialog.
    await click(app, "button[data-page=storage]");
    await click(app, "[data-testid=create-first-folder]");
    // The dialog says where a folder will be mounted, as the planner places it: .linuxbrew
    // goes to Homebrew's prefix, not under /home/work.
    await typeInto(app, "[data-testid=create-folder] input[name=name]", ".linuxbrew");
    await waitForText(app, "[data-testid=folder-mount-target]", "/home/linuxbrew/.linuxbrew");
    assert.equal(await textOf(app, "[data-testid=folder-mount-target]"), "/home/linuxbrew/.linuxbrew");
    await screenshot(app, "seed-create-linuxbrew");
    await clear(app, "[data-testid=create-folder] input[name=name]");
    await typeInto(app, "[data-testid=create-folder] input[name=name]", "user1-ml-test");
    await waitForText(app, "[data-testid=folder-mount-target]", "/home/work/user1-ml-test");
    await click(app, "[data-testid=create-folder] button[type=submit]");
    await waitForText(app, "tr[data-folder=user1-ml-test]", "user1-ml-test");
    // .linuxbrew itself from the CLI, so the launcher's review can be held against the dialog.
    cli(app, "folder", "create", ".linuxbrew");

    // Sessions → Start → Session Type → Environments & Resource allocation.
    await click(app, "button[data-page=sessions]");
    await click(app, "[data-testid=start-session]");
    await waitForText(app, "[data-testid=launcher]", "Session Type");
    await click(app, "[data-testid=launcher-next]");
    await until("the environment step", async () => (await run(app, "return document.querySelector('[data-testid=launcher]').dataset.step;")) === "environment");
    await waitForText(app, "[data-testid=launcher]", "Host");
    await click(app, "[data-testid=launcher-next]");

    // Data & Storage: user2-vfolder made with '+' is selected at once; pick user1-ml-test.
    await waitForText(app, "[data-testid=no-folder-warning]", "lost when the session ends");
    await click(app, "[data-testid=launcher-new-folder]");
    await typeInto(app, "[data-testid=create-folder] input[name=name]", "user2-vfolder");
    await click(app, "[data-testid=create-folder] button[type=submit]");
    await waitForText(app, "[data-testid=launcher-mounts]", "user2-vfolder");
    await click(app, "tr[data-folder=user1-ml-test] [data-testid=pick-folder]");
    await waitForText(app, "li[data-mount=user1-ml-test] [data-testid=mount-target]", "/home/work/user1-ml-test");
    await waitForText(app, "li[data-mount=user2-vfolder] [data-testid=mount-target]", "/home/work/user2-vfolder");
    assert.equal(await textOf(app, "[data-testid=no-folder-warning]"), null, "the warning goes once a folder is picked");
    await screenshot(app, "seed-launcher-data-storage");
    await click(app, "[data-testid=launcher-next]");

    // Review → Launch → the session's drawer.
    await waitForText(app, "[data-testid=launcher-review]", "/home/work/user2-vfolder");
    await waitForText(app, "[data-testid=launcher-review]", "/home/linuxbrew/.linuxbrew");
    await click(app, "[data-testid=launch]");
    await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 20_000);
    await waitForText(app, "[data-testid=drawer-mounts]", "user1-ml-test");
    await screenshot(app, "seed-session-drawer");
    const sessionId = await run(app, "return document.querySelector('[data-testid=session-drawer]').dataset.session;");
    const sessionName = await textOf(app, "[data-testid=session-drawer] h2");

    // Execute Terminal App → ls shows both folders in /home/work.
    await click(app, "[data-testid=execute-terminal]");
    await until("the shell", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "open");
    await waitForTerminal(app, "a prompt", (lines) => lines.some((l) => l.trim() !== ""));
    await typeLine(app, "cd /home/work && ls");
    await waitForTerminal(app, "ls output", (lines) => lines.some((l) => l.includes("user1-ml-test") && l.includes("user2-vfolder")));
    await typeLine(app, 'echo "file inside user2-vfolder" > user2-vfolder/test_file');
    await typeLine(app, "cat user2-vfolder/test_file");
    await waitForTerminal(app, "cat output", (lines) => lines.some((l) => l.trim() === "file inside user2-vfolder"));
    assert.equal((await textOf(app, "[data-testid=terminal-tab]")).trim(), `${sessionName} #1`, "the tab is labelled with the session");
    await screenshot(app, "seed-terminal");

    // The guide's example: a PYTHONPATH added to .bashrc holds in the next tab at once.
    await typeLine(app, "echo 'export PYTHONPATH=/home/work/user2-vfolder' >> ~/.bashrc && echo bashrc-$((6*7))");
    await waitForTerminal(app, "the .bashrc edit", (lines) => lines.some((l) => l.trim() === "bashrc-42"));
    // A file uploaded into the mounted folder while the session runs is the session's to write.
    const local = mkdtempSync(join(tmpdir(), "berth-e2e-seed-upload-"));
    writeFileSync(join(local, "uploaded.txt"), "from this computer\n");
    await invoke(app, "upload_paths", { folder: "user2-vfolder", to: "", paths: [join(local, "uploaded.txt")], conflict: null });
    await until("the upload in the folder", () => JSON.parse(cli(app, "--json", "files", "ls", "user2-vfolder")).some((e) => e.name === "uploaded.txt"));
    await click(app, "button[data-page=sessions]");
    await click(app, "[data-testid=execute-terminal]");
    await until("the second tab", async () => (await run(app, "return document.querySelectorAll('[data-testid=terminal-tab]').length;")) === 2);
    await until("the second shell", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "open");
    await typeLine(app, 'echo "PYTHONPATH=[$PYTHONPATH]"; echo "written in the session" >> /home/work/user2-vfolder/uploaded.txt && echo appended-$((6*7))');
    const second = await waitForTerminal(app, "the second tab's answers", (lines) => lines.some((l) => l.trim().startsWith("PYTHONPATH=[")) && lines.some((l) => l.trim() === "appended-42" || l.includes("ermission denied")));
    assert.ok(second.some((l) => l.trim() === "PYTHONPATH=[/home/work/user2-vfolder]"), `the second tab missed the .bashrc edit:\n${second.join("\n")}`);
    assert.ok(second.some((l) => l.trim() === "appended-42"), `the session could not write the uploaded file:\n${second.join("\n")}`);
    await screenshot(app, "seed-second-tab");

    // Destroy the session (confirmed); the shell in the tab reports its end.
    await click(app, "button[data-page=sessions]");
    await waitForText(app, "[data-testid=session-drawer]", "Execute Terminal App");
    await click(app, "[data-testid=destroy-session]");
    await waitForText(app, "[data-testid=confirm]", "Files in its mounted folders stay");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=drawer-status]", "Terminated", 20_000);
    assert.equal((await invoke(app, "session", { id: sessionId })).status, "terminated");
    await click(app, "button[data-page=terminals]");
    await waitForTerminal(app, "the exit line", (lines) => lines.some((l) => l.includes("exited (status")));

    // Data & Storage → user2-vfolder's explorer lists test_file; its download has the text.
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=user2-vfolder] .folder-link");
    await until("test_file listed", async () =>
      (await run(app, "return [...document.querySelectorAll('[data-testid=explorer-rows] [role=row]')].map((r) => r.dataset.name).join();")) === "test_file,uploaded.txt",
    );
    await screenshot(app, "seed-explorer-after");
    const out = mkdtempSync(join(tmpdir(), "berth-e2e-seed-download-"));
    const down = await invoke(app, "download_paths", { folder: "user2-vfolder", paths: ["test_file", "uploaded.txt"], to: out, conflict: null });
    assert.equal(down.queued, 2);
    const downloaded = (name, text) => () => {
      try {
        return readFileSync(join(out, name), "utf8") === text;
      } catch {
        return false;
      }
    };
    await until("the download", downloaded("test_file", "file inside user2-vfolder\n"));
    await until("the uploaded file with the session's line", downloaded("uploaded.txt", "from this computer\nwritten in the session\n"));
    // And the scratch space is gone with the session: the folder only has what was mounted.
    assert.deepEqual(JSON.parse(cli(app, "--json", "session", "list")).filter((s) => s.status === "running"), []);
  });
});
