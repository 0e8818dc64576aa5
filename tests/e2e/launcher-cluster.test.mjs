// The launcher on a cluster (the real peer, scripts/backendai-peer): the projects the user
// belongs to and the resource groups each may use, with what each has free; the allocatable
// figures follow the choice, the choice is kept in the profile's config and comes back in the
// next launcher; a preset fills the CPU and memory fields in one click; a cluster's images
// cannot be removed. Nothing is launched here (profiles.test.mjs launches on a real kernel).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, click, run, screenshot, textOf, until, waitForText, withApp } from "./harness.mjs";

/** The CLI on the app's own config, so the window sees the profile it adds. */
function berthLikeTheApp(app, ...args) {
  const input = typeof args.at(-1) === "object" ? args.pop().input : undefined;
  return execFileSync(CLI, ["--data-dir", app.dataDir, ...args], {
    encoding: "utf8",
    input,
    env: { ...process.env, BERTH_CONFIG_DIR: join(app.home, "config"), DBUS_SESSION_BUS_ADDRESS: app.busAddress },
  });
}

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
    berthLikeTheApp(app, "profile", "add", "peer", "--endpoint", "127.0.0.1:8081", "--access-key", "AKIANABBDUSEREXAMPLE", {
      input: "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf\n",
    });
    await click(app, "[data-testid=engine-switch]");
    await click(app, "[data-testid=engine-menu] button[data-profile=peer]");
    await until("the cluster in the status bar", () =>
      run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'backend_ai';"),
    );

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
    await click(app, "[data-testid=launcher-cancel]");
  });
});
