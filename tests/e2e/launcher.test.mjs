// The launcher from the keyboard, its refusals and warnings, and the detour to a folder's
// explorer that comes back to the same step. Nothing here starts a session except where said.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clear, cli, click, pressKeys, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const ESCAPE = "\uE00C";
const step = (app) => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step ?? null;");
const focused = (app) => run(app, "const el = document.activeElement; return el ? (el.name || el.dataset.testid || el.tagName) : null;");
const disabled = (app, css) => run(app, "return document.querySelector(arguments[0]).disabled;", css);

test("launcher: Enter walks the steps, a bad Path and Alias is refused inline and holds Launch, no folder warns", async () => {
  await withApp("launcher", {}, async (app) => {
    cli(app, "folder", "create", "data");
    cli(app, "folder", "create", "models");
    cli(app, "folder", "create", ".local");
    await click(app, "[data-testid=start-first-session]");

    // Session Type: focus on the first field; a bad name holds Next with the rule's message.
    await until("the type step", async () => (await step(app)) === "type");
    assert.equal(await focused(app), "session-type");
    await typeInto(app, "[data-testid=session-name]", "bad name!");
    await until("the name refused", async () => (await textOf(app, "[data-testid=session-name-help]")) !== "Letters, digits, '-' and '_'.");
    assert.equal(await disabled(app, "[data-testid=launcher-next]"), true);
    await clear(app, "[data-testid=session-name]");
    await typeInto(app, "[data-testid=session-name]", `launcher-test${ENTER}`);

    // Environments & Resource allocation: Enter again. Outbound is the default, with what it
    // still reaches said; host network needs its warning.
    await until("the environment step", async () => (await step(app)) === "environment");
    assert.equal(await focused(app), "environment");
    await waitForText(app, "[data-testid=launcher]", "Docker / Podman");
    assert.equal(await run(app, "return document.querySelector('input[name=network]:checked').value;"), "outbound");
    await waitForText(app, "[data-testid=outbound-network-note]", "local network");
    await click(app, "[data-testid=network-host]");
    await waitForText(app, "[data-testid=host-network-warning]", "everything this computer reaches");
    assert.equal(await textOf(app, "[data-testid=outbound-network-note]"), null);
    await screenshot(app, "launcher-host-network");
    await click(app, "[data-testid=network-none]");
    assert.equal(await textOf(app, "[data-testid=host-network-warning]"), null, "the warning goes with the choice");
    await screenshot(app, "launcher-environment");
    await typeInto(app, "input[name=cpus]", `99${ENTER}`);
    await waitForText(app, "[data-testid=launcher-blockers]", "CPUs can be at most");
    assert.equal(await step(app), "environment", "Enter does not pass a refused value");
    await clear(app, "input[name=cpus]");
    await typeInto(app, "input[name=environment]", ENTER);

    // Data & Storage: nothing picked → the warning; automounts listed apart with their target.
    await until("the storage step", async () => (await step(app)) === "storage");
    await waitForText(app, "[data-testid=no-folder-warning]", "lost when the session ends");
    await waitForText(app, "[data-testid=launcher-automounts]", "/home/work/.local");
    assert.equal(await run(app, "return document.querySelector('tr[data-folder=\".local\"]');"), null, "automounts are not pickable");
    await screenshot(app, "launcher-no-folder");

    // A bad alias is refused next to its folder and holds the way to Launch.
    await click(app, "tr[data-folder=data] [data-testid=pick-folder]");
    await typeInto(app, "li[data-mount=data] [data-testid=mount-alias]", "../../etc");
    await waitForText(app, "li[data-mount=data] [data-testid=mount-problem]", "data");
    assert.equal(await disabled(app, "[data-testid=launcher-next]"), true);
    assert.equal(await run(app, "return [...document.querySelectorAll('.stepper button')].at(-1).disabled;"), true, "Review is out of reach");
    await screenshot(app, "launcher-bad-alias");
    // A reserved absolute path too; then a good relative alias resolves live.
    await clear(app, "li[data-mount=data] [data-testid=mount-alias]");
    await typeInto(app, "li[data-mount=data] [data-testid=mount-alias]", "/etc");
    await waitForText(app, "li[data-mount=data] [data-testid=mount-problem]", "/etc");
    await clear(app, "li[data-mount=data] [data-testid=mount-alias]");
    await typeInto(app, "li[data-mount=data] [data-testid=mount-alias]", "in/data");
    await waitForText(app, "li[data-mount=data] [data-testid=mount-target]", "/home/work/in/data");
    // Two folders on one target: the second is refused.
    await click(app, "tr[data-folder=models] [data-testid=pick-folder]");
    await typeInto(app, "li[data-mount=models] [data-testid=mount-alias]", "/home/work/in/data");
    await until("the duplicate refused", async () => (await textOf(app, "[data-testid=launcher-mounts]"))?.includes("in/data") && (await run(app, "return document.querySelectorAll('[data-testid=mount-problem]').length;")) > 0);
    assert.equal(await disabled(app, "[data-testid=launcher-next]"), true);
    await clear(app, "li[data-mount=models] [data-testid=mount-alias]");
    await waitForText(app, "li[data-mount=models] [data-testid=mount-target]", "/home/work/models");

    // The folder name opens its explorer; closing it comes back to this step as it was.
    await click(app, "tr[data-folder=models] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "0 items");
    await click(app, ".crumbs button.link");
    await until("back in the launcher", async () => (await step(app)) === "storage");
    assert.equal(await run(app, "return document.querySelector('li[data-mount=data] [data-testid=mount-alias]').value;"), "in/data");

    // Review shows the plan; Launch is enabled now. Escape cancels the whole wizard.
    await until("Next enabled once the plan is checked", async () => !(await disabled(app, "[data-testid=launcher-next]")));
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=launcher-review]", "/home/work/in/data");
    await waitForText(app, "[data-testid=review-network]", "No network (loopback only)");
    assert.equal(await disabled(app, "[data-testid=launch]"), false);
    await screenshot(app, "launcher-review");
    await typeInto(app, "[data-testid=launch]", ESCAPE);
    await until("the launcher closed", async () => (await step(app)) === null);
    await waitForText(app, "[data-testid=sessions-empty]", "No compute sessions yet.");
  });
});

test("launcher: Back looks disabled on the first step, enabled on the next", async () => {
  await withApp("launcher-back", {}, async (app) => {
    const look = (css) => run(app, "const s = getComputedStyle(document.querySelector(arguments[0])); return s.opacity + ' ' + s.cursor;", css);
    await click(app, "[data-testid=start-first-session]");
    await until("the type step", async () => (await step(app)) === "type");
    assert.equal(await disabled(app, "[data-testid=launcher-back]"), true);
    const backOnFirst = await look("[data-testid=launcher-back]");
    await screenshot(app, "launcher-first-step-back");
    await typeInto(app, "[data-testid=session-name]", ENTER);
    await until("the environment step", async () => (await step(app)) === "environment");
    assert.equal(await disabled(app, "[data-testid=launcher-back]"), false);
    assert.notEqual(backOnFirst, await look("[data-testid=launcher-back]"), "a disabled Back must not look like an enabled one");
  });
});

test("launcher: Enter on Review launches, from the keyboard, after Back and Next, and with the focus on the page", async () => {
  await withApp("launcher-enter", {}, async (app) => {
    await click(app, "[data-testid=start-first-session]");
    await until("the type step", async () => (await step(app)) === "type");
    await typeInto(app, "[data-testid=session-name]", `enter-launch${ENTER}`);
    await until("the environment step", async () => (await step(app)) === "environment");
    await typeInto(app, "input[name=environment]", ENTER);
    await until("the storage step", async () => (await step(app)) === "storage");
    assert.equal(await focused(app), "launcher-folder-search");
    await until("Next enabled once the plan is checked", async () => !(await disabled(app, "[data-testid=launcher-next]")));
    await pressKeys(app, [ENTER]);
    await until("the review step", async () => (await step(app)) === "review");
    assert.equal(await focused(app), "launch", "Review's Launch button has the focus, so Enter launches");

    // Back, then Next with the mouse (the button pressed goes away): Enter still launches,
    // even after a click on the review's text left the focus on the page.
    await click(app, "[data-testid=launcher-back]");
    await until("back on the storage step", async () => (await step(app)) === "storage");
    await until("Next enabled once the plan is checked", async () => !(await disabled(app, "[data-testid=launcher-next]")));
    await click(app, "[data-testid=launcher-next]");
    await until("the review step again", async () => (await step(app)) === "review");
    await waitForText(app, "[data-testid=launcher-review]", "enter-launch");
    await click(app, "[data-testid=launcher-review] dt");
    await run(app, "document.activeElement?.blur();");
    await pressKeys(app, [ENTER]);
    await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 20_000);
    const id = await run(app, "return document.querySelector('[data-testid=session-drawer]').dataset.session;");
    cli(app, "session", "destroy", id);
  });
});

test("launcher: Enter typed right after an alias goes on once the mounts are checked, and not past a refused one", async () => {
  await withApp("launcher-enter-checking", {}, async (app) => {
    cli(app, "folder", "create", "data");
    await click(app, "[data-testid=start-first-session]");
    await until("the type step", async () => (await step(app)) === "type");
    await typeInto(app, "[data-testid=session-name]", ENTER);
    await until("the environment step", async () => (await step(app)) === "environment");
    await typeInto(app, "input[name=environment]", ENTER);
    await until("the storage step", async () => (await step(app)) === "storage");
    await click(app, "tr[data-folder=data] [data-testid=pick-folder]");
    // A refused alias and Enter in one go: the check refuses it, and the wizard stays.
    await typeInto(app, "li[data-mount=data] [data-testid=mount-alias]", `../../etc${ENTER}`);
    await waitForText(app, "li[data-mount=data] [data-testid=mount-problem]", "data");
    assert.equal(await step(app), "storage");
    // A good one and Enter in one go (the check is still running when Enter lands): Review.
    await clear(app, "li[data-mount=data] [data-testid=mount-alias]");
    await typeInto(app, "li[data-mount=data] [data-testid=mount-alias]", `in/data${ENTER}`);
    await until("the review step", async () => (await step(app)) === "review", 5_000);
    await waitForText(app, "[data-testid=launcher-review]", "/home/work/in/data");
  });
});
