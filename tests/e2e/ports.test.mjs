// Port forwards in the window: a server started in a session with no network, opened from the
// session's details (a port nothing listens on refused in words), answering on this computer's
// loopback, listed under Ports with its traffic, and closed there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clear, cli, click, run, screenshot, typeInto, until, waitForText, withApp } from "./harness.mjs";

const SERVER = `cd /home/work && echo forwarded-page > page.txt && setsid python3 -m http.server 8781 --bind 127.0.0.1 </dev/null >/dev/null 2>&1 &
for i in $(seq 100); do python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8781))' 2>/dev/null && exit 0; sleep 0.1; done; exit 1`;

test("ports: a session's server opened from its details, listed, used and closed", async () => {
  await withApp("ports", {}, async (app) => {
    const id = cli(app, "session", "create", "--name", "served", "--network", "none").trim();
    cli(app, "session", "exec", id, "--", "sh", "-c", SERVER);
    await click(app, "button[data-page=sessions]");
    await click(app, "[data-testid=session-link][title=served]");
    await waitForText(app, "[data-testid=drawer-status]", "Running");

    await typeInto(app, "input[name=forward-port]", "8782");
    await click(app, "[data-testid=forward-port]");
    await waitForText(app, "[data-testid=session-drawer] [role=alert]", "Nothing listens on port 8782");

    await clear(app, "input[name=forward-port]");
    await typeInto(app, "input[name=forward-port]", "8781");
    await click(app, "[data-testid=forward-port]");
    const said = await waitForText(app, "[data-testid=forwarded]", "Port 8781 is at");
    const url = said.match(/http:\/\/127\.0\.0\.1:\d+\//)[0];
    const page = await (await fetch(`${url}page.txt`)).text();
    assert.equal(page, "forwarded-page\n");

    await click(app, "button[data-page=ports]");
    await waitForText(app, "tr[data-port='8781']", "served");
    await until("the traffic counted", async () => (await run(app, "return document.querySelector(\"tr[data-port='8781'] td.num:nth-of-type(5)\")?.innerText ?? '';")) !== "0 B");
    await screenshot(app, "ports-listed");
    await click(app, "tr[data-port='8781'] [data-testid=close-port]");
    await waitForText(app, "[data-testid=ports-empty]", "No ports are forwarded.");
    await assert.rejects(fetch(`${url}page.txt`), "closed: nothing listens there any more");

    // Open again, then the session ends: the row says so until dismissed.
    await click(app, "button[data-page=sessions]");
    await click(app, "[data-testid=session-link][title=served]");
    await clear(app, "input[name=forward-port]");
    await typeInto(app, "input[name=forward-port]", "8781");
    await click(app, "[data-testid=forward-port]");
    await waitForText(app, "[data-testid=forwarded]", "Port 8781 is at");
    cli(app, "session", "destroy", id);
    await click(app, "button[data-page=ports]");
    await waitForText(app, "tr[data-port='8781'] [data-testid=port-ended]", "Closed: session served ended", 15_000);
    await click(app, "tr[data-port='8781'] [data-testid=close-port]");
    await waitForText(app, "[data-testid=ports-empty]", "No ports are forwarded.");
  });
});
