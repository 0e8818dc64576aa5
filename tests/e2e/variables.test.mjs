// Environment variables from the launcher's Session Type step, by keyboard: a bad name is
// refused inline and holds Next, the review lists them, and the session's drawer shows them
// (that processes in the session get them is the engine tests' part).
import { test } from "node:test";
import assert from "node:assert/strict";
import { clear, click, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const step = (app) => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step ?? null;");
const focused = (app) => run(app, "const el = document.activeElement; return el ? (el.name || el.dataset.testid || el.tagName) : null;");
const disabled = (app, css) => run(app, "return document.querySelector(arguments[0]).disabled;", css);
const row = (n) => `[data-testid=variable-row]:nth-child(${n})`;

test("variables: added from the keyboard, a bad name held inline, shown in review and in the drawer", async () => {
  await withApp("variables", {}, async (app) => {
    await click(app, "[data-testid=start-first-session]");
    await until("the type step", async () => (await step(app)) === "type");

    // Add variable puts the caret in the new row's name; a reserved name is refused there.
    await click(app, "[data-testid=add-variable]");
    assert.equal(await focused(app), "variable-name");
    await typeInto(app, `${row(1)} [data-testid=variable-name]`, "HOME");
    await waitForText(app, `${row(1)} [data-testid=variable-error]`, "HOME is set by the engine");
    assert.equal(await disabled(app, "[data-testid=launcher-next]"), true);
    await screenshot(app, "variables-refused");
    await clear(app, `${row(1)} [data-testid=variable-name]`);
    await typeInto(app, `${row(1)} [data-testid=variable-name]`, "GREETING");
    await typeInto(app, `${row(1)} [data-testid=variable-value]`, "hello world");
    assert.equal(await textOf(app, "[data-testid=variable-error]"), null);

    // A second row, removed again: the caret goes back to the row before.
    await click(app, "[data-testid=add-variable]");
    await typeInto(app, `${row(2)} [data-testid=variable-name]`, "1BAD");
    await waitForText(app, `${row(2)} [data-testid=variable-error]`, "a name starts with a letter");
    await click(app, `${row(2)} [data-testid=remove-variable]`);
    assert.equal(await run(app, "return document.querySelectorAll('[data-testid=variable-row]').length;"), 1);
    assert.equal(await focused(app), "variable-name");

    // Enter walks on to Review, which lists the variable; Launch, and the drawer shows it.
    await typeInto(app, `${row(1)} [data-testid=variable-value]`, ENTER);
    await until("the environment step", async () => (await step(app)) === "environment");
    await click(app, "[data-testid=launcher-next]");
    await until("the storage step", async () => (await step(app)) === "storage");
    await until("Next enabled once the plan is checked", async () => !(await disabled(app, "[data-testid=launcher-next]")));
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=review-variables]", "GREETING=hello world");
    await screenshot(app, "variables-review");
    await click(app, "[data-testid=launch]");
    await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 20_000);
    await waitForText(app, "[data-testid=drawer-variables]", "GREETING=hello world");
    await screenshot(app, "variables-drawer");
    await click(app, "[data-testid=destroy-session]");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=drawer-status]", "Terminated", 20_000);
  });
});
