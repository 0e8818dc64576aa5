// SSH into a local session from the window: "Open in VS Code" in the session's details opens
// Berth's SSH for the session, takes Berth's ssh_config into ~/.ssh/config and starts VS Code's
// Remote-SSH on it (`code --remote ssh-remote+berth-NAME /home/work`; VS Code itself is a
// stand-in here that records how it was started, named as such) — and the host it is given
// works with the real OpenSSH client. "SSH command" shows the command a user pastes, which
// runs in the session too; Ports lists the SSH server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli, click, screenshot, textOf, until, waitForText, withApp } from "./harness.mjs";

test("ssh: Open in VS Code starts Remote-SSH on the session, whose host and command work with a real ssh", async () => {
  // The user's home for this test: ~/.ssh/config is written there, not in the machine's.
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-home-"));
  // VS Code's stand-in: records its arguments, as `code` would receive them.
  const codeArgs = join(home, "code-args");
  const code = join(home, "code-stand-in");
  writeFileSync(code, `#!/bin/sh\nprintf '%s\\n' "$@" > '${codeArgs}'\n`);
  chmodSync(code, 0o755);
  await withApp("ssh", { env: { HOME: home, BERTH_VSCODE: code } }, async (app) => {
    cli(app, "folder", "create", "project");
    const id = cli(app, "session", "create", "--name", "remote", "--network", "none", "--mount", "project").trim();
    try {
      await click(app, "button[data-page=sessions]");
      await click(app, "[data-testid=session-link][title=remote]");
      await waitForText(app, "[data-testid=drawer-status]", "Running");
      await waitForText(app, "[data-testid=session-apps] li[data-app=ssh]", "ssh");

      await click(app, "li[data-app=ssh] [data-testid=open-vscode]");
      await until("VS Code was started", async () => existsSync(codeArgs), 15_000);
      assert.deepEqual(readFileSync(codeArgs, "utf8").trim().split("\n"), ["--remote", "ssh-remote+berth-remote", "/home/work"]);
      const userConfig = readFileSync(join(home, ".ssh/config"), "utf8");
      assert.match(userConfig, /^# Added by Berth.*\nInclude "[^"]+\/ssh\/config"\n/);
      // The host VS Code was given, through ~/.ssh/config as Remote-SSH reads it (ssh reads the
      // passwd home, so the file is named).
      const out = execFileSync("ssh", ["-F", join(home, ".ssh/config"), "-o", "BatchMode=yes", "berth-remote", "echo from-$((40+2)); ls /home/work"], { encoding: "utf8", timeout: 30_000 });
      assert.equal(out, "from-42\nproject\n");

      // The command a user pastes into a terminal.
      await click(app, "li[data-app=ssh] [data-testid=open-app]");
      const command = await textOf(app, "[data-testid=ssh-command]");
      // ~/.ssh/config takes Berth's in already (Open in VS Code did it), so the short form works.
      await waitForText(app, "[data-testid=ssh-config-included]", "ssh berth-remote");
      assert.match(command, /^ssh -p \d+ -i \S+ -o IdentitiesOnly=yes -o HostKeyAlias=berth -o UserKnownHostsFile=\S+ work@127\.0\.0\.1$/);
      const ran = execFileSync("sh", ["-c", `${command} -o BatchMode=yes 'echo pasted > /home/work/project/pasted.txt && cat /home/work/project/pasted.txt'`], { encoding: "utf8", timeout: 30_000 });
      assert.equal(ran, "pasted\n");
      await screenshot(app, "ssh-drawer");

      await click(app, "button[data-page=ports]");
      await waitForText(app, "tr[data-port='22']", "ssh");
      await screenshot(app, "ssh-ports");
    } finally {
      cli(app, "session", "destroy", id);
    }
  });
});
