// berth://launch?template=NAME links: opened while Berth runs (the desktop starts Berth again
// with the link, which hands it to the running one) or as Berth starts, they bring the launcher
// up on that template's review step and launch nothing; a link Berth does not follow, or one
// naming a template that is not saved, says so in a toast.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, launchAgain, run, screenshot, until, waitForText, withApp } from "./harness.mjs";

const step = (app) => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step ?? null;");
// Any toast of `kind` saying `text` (several may be up at once).
const toastSays = (app, kind, text, timeoutMs = 15_000) =>
  until(`a ${kind} toast saying "${text}"`, () =>
    run(app, "return [...document.querySelectorAll(`[data-testid=toast][data-kind=${arguments[0]}]`)].some((t) => t.innerText.includes(arguments[1]));", kind, text),
  timeoutMs);

test("launch links: the running window opens the template for review and launches nothing", async () => {
  await withApp("launch-link", {}, async (app) => {
    cli(app, "template", "save", "nightly", "--env", "host", "--network", "none", "--lifetime", "2h");
    launchAgain(app, ["berth://launch?template=nightly"]);
    await waitForText(app, "[data-testid=launcher]", "Review & Launch");
    assert.equal(await step(app), "review");
    await waitForText(app, "[data-testid=review-network]", "No network");
    await waitForText(app, "[data-testid=review-limits]", "lives 2 h at most");
    await toastSays(app, "link-followed", "nightly");
    await screenshot(app, "launch-link-review");
    assert.deepEqual(JSON.parse(cli(app, "--json", "session", "list")), [], "a link launches nothing");

    launchAgain(app, ["berth://launch?template=..%2F..%2Fetc%2Fpasswd"]);
    await toastSays(app, "link-refused", "Template name");
    launchAgain(app, ["berth://launch?template=gone"]);
    await toastSays(app, "link-refused", "“gone”, which is not saved here");
    assert.deepEqual(JSON.parse(cli(app, "--json", "session", "list")), []);
  });
});

test("launch links: a link Berth is started with is followed once the window is up", async () => {
  await withApp("launch-link-start", { args: ["berth://launch?template=missing"] }, async (app) => {
    await toastSays(app, "link-refused", "“missing”, which is not saved here", 30_000);
  });
});
