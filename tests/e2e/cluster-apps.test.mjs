// A cluster session's apps in the window, on the peer's real kernels (scripts/backendai-peer,
// resource group podman): the session's details list its image's apps and the port it was
// launched to open; one click opens a server the user started there on this computer's
// loopback, and the image's ttyd by name; Ports lists both with the profile they lead into,
// and closes them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, click, launchOnRealKernel, screenshot, useCluster, waitForText, withApp } from "./harness.mjs";

const SERVER = `mkdir -p /tmp/www && echo cluster-page > /tmp/www/page.txt && (setsid python3 -m http.server 8000 -d /tmp/www </dev/null >/dev/null 2>&1 &)
for i in $(seq 100); do python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8000))' 2>/dev/null && exit 0; sleep 0.1; done; exit 1`;

test("cluster apps: a session's server and its ttyd opened from its details, listed under Ports and closed", async () => {
  await withApp("cluster-apps", {}, async (app) => {
    await useCluster(app);
    const name = `e2e-apps-${Date.now().toString(36)}`;
    // Launched with a port to open, as the launcher's "Ports to open" field asks for it.
    await launchOnRealKernel(app, name, { ports: [8000] });
    try {
      cli(app, "--profile", "peer", "session", "exec", name, "--", "sh", "-c", SERVER);
      await click(app, "button[data-page=sessions]");
      await click(app, `[data-testid=session-link][title='${name}']`);
      await waitForText(app, "[data-testid=drawer-status]", "Running");
      await waitForText(app, "[data-testid=session-apps] li[data-app=ttyd]", "ttyd");
      await waitForText(app, "[data-testid=session-apps] li[data-app=sshd]", "SSH");
      await screenshot(app, "cluster-apps-drawer");

      await click(app, "[data-testid=session-apps] li[data-app='8000'] [data-testid=open-app]");
      const said = await waitForText(app, "[data-testid=forwarded]", "Port 8000 is at", 30_000);
      const url = said.match(/http:\/\/127\.0\.0\.1:\d+\//)[0];
      assert.equal(await (await fetch(`${url}page.txt`)).text(), "cluster-page\n");

      await click(app, "[data-testid=session-apps] li[data-app=ttyd] [data-testid=open-app]");
      const ttydSaid = await waitForText(app, "[data-testid=forwarded]", "ttyd is at", 30_000);
      const ttydUrl = ttydSaid.match(/http:\/\/127\.0\.0\.1:\d+\//)[0];
      assert.match(await (await fetch(ttydUrl)).text(), /ttyd/);
      // Which way it goes, and why: the peer's resource group has no App Proxy.
      assert.match(ttydSaid, /Through the manager's tcpproxy \(resource group "podman" has no App Proxy: the manager reports v1\)\./);

      await click(app, "button[data-page=ports]");
      await waitForText(app, "tr[data-port='8000']", "peer");
      await waitForText(app, "tr[data-port='7681']", "ttyd (7681)");
      await waitForText(app, "tr[data-port='7681'] [data-testid=port-via]", "through the manager's tcpproxy");
      await screenshot(app, "cluster-apps-ports");
      await click(app, "tr[data-port='8000'] [data-testid=close-port]");
      await click(app, "tr[data-port='7681'] [data-testid=close-port]");
      await waitForText(app, "[data-testid=ports-empty]", "No ports are forwarded.");
      await assert.rejects(fetch(`${url}page.txt`), "closed: nothing listens there any more");
    } finally {
      try {
        cli(app, "--profile", "peer", "session", "destroy", name);
      } catch {
        /* it ended already */
      }
    }
  });
});
