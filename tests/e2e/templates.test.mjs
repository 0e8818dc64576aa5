// Launch templates in the window: saved at the launcher's review step (Enter there saves, never
// launches), shared with the CLI both ways, launched from the Sessions page in one click, opened
// in the launcher to change first, and a template whose folder is gone opens the launcher at
// Data & Storage with the problem shown instead of launching. A past session launches again
// from its drawer in one click.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, click, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const step = (app) => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step ?? null;");

test("templates: saved at review, shared with the CLI, relaunched in one click, a gone folder caught first", async () => {
  await withApp("templates", {}, async (app) => {
    cli(app, "folder", "create", "data");
    await click(app, "[data-testid=start-first-session]");
    await until("the type step", async () => (await step(app)) === "type");
    await click(app, "[data-testid=launcher-next]");
    await until("the environment step", async () => (await step(app)) === "environment");
    await click(app, "[data-testid=network-none]");
    await click(app, "[data-testid=launcher-next]");
    await until("the storage step", async () => (await step(app)) === "storage");
    await click(app, "tr[data-folder=data] [data-testid=pick-folder]");
    await typeInto(app, "li[data-mount=data] [data-testid=mount-alias]", "in/data");
    await waitForText(app, "li[data-mount=data] [data-testid=mount-target]", "/home/work/in/data");
    await until("Next enabled", async () => !(await run(app, "return document.querySelector('[data-testid=launcher-next]').disabled;")));
    await click(app, "[data-testid=launcher-next]");
    await until("the review step", async () => (await step(app)) === "review");

    await typeInto(app, "[data-testid=template-name]", "nightly");
    await click(app, "[data-testid=save-template]");
    await waitForText(app, "[data-testid=template-saved]", "Saved as template “nightly”");
    await screenshot(app, "templates-saved");
    // Saving the same name again asks before replacing.
    await click(app, "[data-testid=save-template]");
    await waitForText(app, "[data-testid=template-taken]", "exists");
    await click(app, "[data-testid=replace-template]");
    await waitForText(app, "[data-testid=template-saved]", "nightly");
    // Enter in the name saves this one; the session is not launched.
    await run(app, "document.querySelector('[data-testid=template-name]').value = '';");
    await typeInto(app, "[data-testid=template-name]", `copy${ENTER}`);
    await waitForText(app, "[data-testid=template-saved]", "Saved as template “copy”");
    assert.equal(await step(app), "review", "still on the review: Enter saved, it did not launch");
    await click(app, "[data-testid=launcher-cancel]");
    // Back on the Sessions page, what was just saved is there without a refresh.
    await waitForText(app, "[data-testid=templates]", "nightly");

    // The CLI reads what the window saved, and the window what the CLI saved.
    const saved = JSON.parse(cli(app, "--json", "template", "show", "nightly"));
    assert.equal(saved.session.network, "none");
    assert.deepEqual(saved.session.mounts, [{ folder: "data", alias: "in/data", access: null }]);
    cli(app, "template", "save", "from-cli", "--type", "batch", "--command", "echo from-cli", "--mount", "data:/data:ro");
    await click(app, "[data-testid=refresh]");
    await waitForText(app, "[data-testid=templates]", "from-cli");
    await waitForText(app, "li[data-template=nightly]", "data");
    await screenshot(app, "templates-listed");

    // One click: the session runs as saved.
    await click(app, "li[data-template=nightly] [data-testid=launch-template]");
    await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 20_000);
    await waitForText(app, "[data-testid=drawer-mounts]", "/home/work/in/data");
    await waitForText(app, "[data-testid=drawer-network]", "No network");
    // What it uses now, sampled while it runs.
    await waitForText(app, "[data-testid=drawer-usage]", "memory");
    await click(app, "[data-testid=destroy-session]");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=drawer-status]", "Terminated", 20_000);
    // A finished session launches again in one click, set up as it was (another name).
    const first = await textOf(app, "[data-testid=session-drawer] h2");
    await click(app, "[data-testid=launch-again]");
    await until("a new session in the drawer", async () => (await textOf(app, "[data-testid=session-drawer] h2")) !== first);
    await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 20_000);
    await waitForText(app, "[data-testid=drawer-mounts]", "/home/work/in/data");
    await waitForText(app, "[data-testid=drawer-network]", "No network");
    await screenshot(app, "templates-launched-again");
    await click(app, "[data-testid=destroy-session]");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=drawer-status]", "Terminated", 20_000);

    // Open in launcher: the saved setup at the review step, ready to change.
    await click(app, "li[data-template=from-cli] [data-testid=edit-template]");
    await until("the review step", async () => (await step(app)) === "review");
    await waitForText(app, "[data-testid=launcher-review]", "echo from-cli");
    await waitForText(app, "[data-testid=launcher-review]", "/data (read-only)");
    await click(app, "[data-testid=launcher-cancel]");

    // The folder is gone: Launch opens Data & Storage with the problem, and launches nothing.
    cli(app, "folder", "delete", "data");
    const before = cli(app, "--json", "session", "list");
    await click(app, "li[data-template=nightly] [data-testid=launch-template]");
    await until("the storage step", async () => (await step(app)) === "storage");
    await waitForText(app, "li[data-mount=data] [data-testid=mount-problem]", "There is no folder named \"data\"");
    assert.equal(await run(app, "return document.querySelector('[data-testid=launcher-next]').disabled;"), true, "held until it is dealt with");
    await screenshot(app, "templates-folder-gone");
    assert.equal(cli(app, "--json", "session", "list"), before, "nothing was launched");
    // The user may leave it out, knowingly.
    await click(app, "li[data-mount=data] [data-testid=unpick-missing]");
    await waitForText(app, "[data-testid=no-folder-warning]", "No folder selected");
    await click(app, "[data-testid=launcher-cancel]");

    await click(app, "li[data-template=copy] [data-testid=remove-template]");
    await until("copy removed", async () => (await textOf(app, "li[data-template=copy]")) === null);
    assert.ok(!cli(app, "template", "list").includes("copy"));
  });
});
