// A cluster session that ends under the user, in the window, on the peer's real kernels
// (scripts/backendai-peer, resource group podman): its container is killed from the host, as a
// node's out-of-memory killer or a crash would. The open terminal tab must not sit there looking
// live: it says the session stopped and why (the cluster's reason in words), and a toast says
// so wherever the user is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cli, click, launchOnRealKernel, run, screenshot, terminalLines, textOf, typeInto, until, useCluster, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";

test("cluster session end: a kernel killed under an open terminal ends the tab with the cluster's reason, and a toast says so", async () => {
  await withApp("cluster-session-end", {}, async (app) => {
    await useCluster(app);

    const name = `e2e-end-${Date.now().toString(36)}`;
    // Launched as the launcher does: the app then follows the session, which is what this
    // test is about.
    const id = (await launchOnRealKernel(app, name)).id;
    try {
      // Its terminal, from the "ready" toast's button, as a user who launched it would.
      const ready = `[data-testid=toast][data-kind=session-ready]`;
      await waitForText(app, ready, `Session ${name} is ready`, 240_000);
      await click(app, `${ready} [data-testid=toast-action]`);
      await until("the terminal connected", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "open", 60_000);
      await typeInto(app, "[data-testid=terminal]:not([hidden]) .xterm-helper-textarea", "echo alive-$((3*3))" + ENTER);
      await until("the shell answered", async () => (await terminalLines(app))?.some((l) => l.trim() === "alive-9"), 30_000);

      // The kernel dies: its container killed from the host.
      const container = execFileSync("podman", ["ps", "-q", "--filter", `label=ai.backend.session-id=${id}`], { encoding: "utf8" }).trim();
      assert.ok(container, "the session runs in a container");
      execFileSync("podman", ["kill", "--signal", "KILL", container]);

      // The tab stops looking live, and once the cluster has settled says why in words: "its
      // container stopped on its own" or, when the agent found it missing rather than saw it
      // stop, "its container is gone".
      const WHY = "The cluster ended it: its container ";
      await waitForText(app, "[data-testid=terminal-ended]", WHY, 90_000);
      assert.equal(await textOf(app, "[data-testid=terminal-tab-ended]"), "ended");
      assert.match(await textOf(app, "[data-testid=terminal-ended]"), new RegExp(`Session ${name} stopped: `));
      await until("the terminal's own line", async () => (await terminalLines(app))?.some((l) => l.includes(`[Berth: Session ${name} is no longer running`)), 5_000);
      // Keys typed now go nowhere and say nothing: the tab is closed to input.
      assert.equal(await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;"), "exited");
      // The toast says the same wherever the user is, with the way to the details.
      await waitForText(app, "[data-testid=toast][data-kind=session-stopped]", `Session ${name} stopped: ${WHY}`, 30_000);
      await screenshot(app, "cluster-session-killed");
      await click(app, "[data-testid=toast][data-kind=session-stopped] [data-testid=toast-action]");
      await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Error");
      await waitForText(app, "[data-testid=session-drawer]", WHY);
      await screenshot(app, "cluster-session-killed-drawer");
    } finally {
      try {
        cli(app, "--profile", "peer", "session", "destroy", name);
      } catch {
        /* it ended already */
      }
    }
  });
});
