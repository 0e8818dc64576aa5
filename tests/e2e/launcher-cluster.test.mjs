// The launcher on a cluster (the real peer, scripts/backendai-peer): the projects the user
// belongs to and the resource groups each may use, with what each has free; the allocatable
// figures follow the choice, the choice is kept in the profile's config and comes back in the
// next launcher; a preset fills the CPU and memory fields in one click; a cluster's images
// cannot be removed; a session on the dummy agent, whose terminal cannot open, says so in its
// tab (profiles.test.mjs launches on a real kernel).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, click, hover, launchFromReview, run, screenshot, textOf, typeInto, until, useCluster, waitForText, withApp } from "./harness.mjs";

/** The tooltips the page draws (ui/src/lib/tooltips.ts), as shown. */
const tooltips = (app) =>
  run(app, "return [...document.querySelectorAll('[role=tooltip]')].filter((t) => t.getClientRects().length > 0).map((t) => t.textContent);");

const field = (app, name) => run(app, "return document.querySelector(`[data-testid=launcher] input[name=${arguments[0]}]`).value;", name);

async function openEnvironmentStep(app) {
  await click(app, "button[data-page=sessions]");
  await click(app, "[data-testid=start-session]");
  await until("the type step", () => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step === 'type';"));
  await click(app, "[data-testid=launcher-next]");
  await until("the environment step", () => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step === 'environment';"));
  await waitForText(app, "[data-testid=launcher-placement]", "Project and resource group");
}

test("launcher on a cluster: project and resource group with their free figures, remembered per profile, presets in one click", async () => {
  await withApp("launcher-cluster", {}, async (app) => {
    await useCluster(app);

    await openEnvironmentStep(app);
    // The user's project, and each resource group it may use with what it has free now.
    assert.equal(await run(app, "return document.querySelector('[data-testid=launcher-project]').value;"), "default");
    for (const group of ["default", "podman"]) {
      const free = await textOf(app, `[data-resource-group=${group}] [data-testid=group-free]`);
      assert.match(free, /(free|nothing free now): \d+ CPUs, [\d.]+ (GiB|MiB)/, `${group}: ${free}`);
    }
    // A fresh profile starts where the cluster would place it; the figures are that group's.
    assert.equal(await run(app, "return document.querySelector('[data-resource-group=default] input').checked;"), true);
    await waitForText(app, "[data-testid=limits-note]", 'Resource group "default"');
    // A cluster's images are the cluster's: none can be removed from here.
    await waitForText(app, "[data-testid=launcher-environments]", "python-podman");
    assert.equal(await run(app, "return document.querySelectorAll('[data-testid=remove-environment]').length;"), 0);

    await click(app, "[data-resource-group=podman] input");
    await waitForText(app, "[data-testid=limits-note]", 'Resource group "podman"');
    // Presets, picked with one click, fill the fields.
    await click(app, "[data-preset=cpu02-medium]");
    assert.deepEqual([await field(app, "cpus"), await field(app, "memory")], ["4", "8"]);
    await click(app, "[data-preset=cpu01-small]");
    assert.deepEqual([await field(app, "cpus"), await field(app, "memory")], ["1", "1"]);
    await screenshot(app, "launcher-cluster-placement");

    // The choice is in the profile's config, not the web view's storage, and the next
    // launcher starts from it.
    await until("the choice saved", () => {
      const saved = JSON.parse(readFileSync(join(app.home, "config", "profiles.json"), "utf8"));
      return saved.placements?.peer?.resource_group === "podman" && saved.placements.peer.project === "default";
    });
    await click(app, "[data-testid=launcher-cancel]");
    await openEnvironmentStep(app);
    await until("podman picked again", () => run(app, "return document.querySelector('[data-resource-group=podman] input')?.checked === true;"));
    await waitForText(app, "[data-testid=limits-note]", 'Resource group "podman"');

    // A session on the dummy agent (group default), which runs no code: its terminal cannot
    // open, and the tab says so and why rather than sitting blank.
    const name = `e2e-noterm-${Date.now().toString(36)}`;
    await click(app, "[data-resource-group=default] input");
    await waitForText(app, "[data-testid=limits-note]", 'Resource group "default"');
    const dummyImage = await run(
      app,
      "return [...document.querySelectorAll('[data-testid=launcher-environments] .env-row')].find((r) => r.textContent.includes('3.9-ubuntu20.04'))?.dataset.environment;",
    );
    await click(app, `.env-row[data-environment='${dummyImage}'] input`);
    await click(app, "[data-testid=launcher-back]");
    await typeInto(app, "[data-testid=session-name]", name);
    await click(app, "[data-testid=launcher-next]");
    await click(app, "[data-testid=launcher-next]");
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=review-placement]", "project default · resource group default");
    try {
      await launchFromReview(app, 120_000);
      await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 90_000);
      await click(app, "[data-testid=execute-terminal]");
      await waitForText(app, "[data-testid=terminal-tab-failed]", "failed", 60_000);
      await waitForText(app, "[data-testid=terminal-failed]", "No terminal could be opened");
      assert.equal(await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])').dataset.state;"), "failed");
      await hover(app, "[data-testid=terminal-tab]");
      const tip = await until("the failed tab's tooltip", async () => (await tooltips(app)).find((t) => t.includes("could not open")), 5_000);
      assert.match(tip, /Through the manager's tcpproxy: .*Through the App Proxy: /);
      await screenshot(app, "terminal-cannot-open");
    } finally {
      // A launch that never happened leaves nothing to destroy; that must not hide why.
      try {
        cli(app, "--profile", "peer", "session", "destroy", name);
      } catch (error) {
        console.log(`cleanup: ${error.message}`);
      }
    }
  });
});
