// A session's life in the window: an idle timeout typed into the launcher (a duration without a
// unit blocks Next with the rule), its countdown in the list and the drawer, the warning toast
// whose button keeps the session running, the graphs of what it uses, the end with the reason
// recorded, and the setup offered again under Recent setups; a batch session this window
// launched says how it finished. Limits are
// short here so the test sees a whole life; nothing is timed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clear, click, invoke, launchFromReview, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const step = (app) => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step ?? null;");
const toast = (app, kind) => `[data-testid=toast][data-kind=${kind}]`;

test("limits: typed in the launcher, counted down, warned about, kept running once, then ended with the reason", async () => {
  await withApp("limits", {}, async (app) => {
    await click(app, "[data-testid=start-first-session]");
    await until("the type step", async () => (await step(app)) === "type");
    await typeInto(app, "[data-testid=launcher] input[name=session-name]", "short-idle");
    await click(app, "[data-testid=launcher-next]");
    await until("the environment step", async () => (await step(app)) === "environment");
    // A bare number is refused with the rule, and Next waits.
    await typeInto(app, "input[name=idle-timeout]", "30");
    await waitForText(app, "[data-testid=launcher-blockers]", 'Idle timeout "30" ends in a number without a unit');
    assert.equal(await run(app, "return document.querySelector('[data-testid=launcher-next]').disabled;"), true);
    await clear(app, "input[name=idle-timeout]");
    await typeInto(app, "input[name=idle-timeout]", "30s");
    await until("Next enabled", async () => !(await run(app, "return document.querySelector('[data-testid=launcher-next]').disabled;")));
    await click(app, "[data-testid=launcher-next]");
    await until("the storage step", async () => (await step(app)) === "storage");
    await until("Next enabled", async () => !(await run(app, "return document.querySelector('[data-testid=launcher-next]').disabled;")));
    await click(app, "[data-testid=launcher-next]");
    await until("the review step", async () => (await step(app)) === "review");
    await waitForText(app, "[data-testid=review-limits]", "ends after 30 s idle");
    await launchFromReview(app);

    await click(app, "[data-testid=session-link][title=short-idle]");
    await waitForText(app, "[data-testid=drawer-status]", "Running", 20_000);
    await waitForText(app, "[data-testid=drawer-limits]", "ends after 30 s idle");
    // Idle for half its limit: the warning, a countdown in the list and the drawer.
    await waitForText(app, toast(app, "session-ending"), "Session short-idle ends in", 40_000);
    await waitForText(app, "tr[data-session=short-idle] [data-testid=countdown]", "ends in");
    await waitForText(app, "[data-testid=drawer-ends]", "Ends in");
    const samples = await run(app, "return Number(document.querySelector('[data-testid=graph-cpu]')?.dataset.samples ?? 0);");
    assert.ok(samples >= 2, `the CPU graph has ${samples} samples`);
    await screenshot(app, "limits-warned");
    assert.equal(await textOf(app, `${toast(app, "session-ending")} [data-testid=toast-action]`), "Keep it running");
    await click(app, `${toast(app, "session-ending")} [data-testid=toast-action]`);
    // Counted as in use: the idle clock starts again, so the countdown goes.
    await waitForText(app, "[data-testid=drawer-ends]", "In use", 10_000);
    assert.equal(await textOf(app, "tr[data-session=short-idle] [data-testid=countdown]"), null);

    // Left alone again, it ends, with the reason where the user looks.
    await waitForText(app, "[data-testid=drawer-status]", "Terminated", 60_000);
    await waitForText(app, "[data-testid=session-drawer]", "Ended by Berth: idle for 30 s.");
    await waitForText(app, toast(app, "session-stopped"), "Ended by Berth: idle for 30 s.");
    await screenshot(app, "limits-ended");

    // The setup is offered again, limits and all, and launches in one click.
    await click(app, "[data-testid=session-drawer] button.close");
    await waitForText(app, "li[data-recent=short-idle]", "idle 30 s");
    await click(app, "li[data-recent=short-idle] [data-testid=launch-recent]");
    await waitForText(app, "[data-testid=drawer-status]", "Running", 20_000);
    await waitForText(app, "[data-testid=drawer-limits]", "ends after 30 s idle");
    await click(app, "[data-testid=destroy-session]");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=drawer-status]", "Terminated");

    // A batch session launched here says how it went when it is done.
    await invoke(app, "create_session", {
      spec: { name: "fails-three", session_type: "batch", environment: "host", mounts: [], command: "exit 3", runtime: null },
    });
    await waitForText(app, toast(app, "batch-finished"), "Batch session fails-three failed (exit status 3)", 30_000);
  });
});
