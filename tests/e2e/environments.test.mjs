// Image environments in the launcher: an archive imported (through the same command the
// "Import image…" button calls after the native picker, which WebDriver cannot drive) shows up
// on the environment step, is removed again after a confirmation, and a hostile archive is
// refused with a message that says so.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync as makeTemp, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { click, run, screenshot, textOf, until, waitForText, withApp } from "./harness.mjs";

const invoke = (app, command, args) =>
  run(
    app,
    "return window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1]).then((ok) => ({ ok }), (error) => ({ error }));",
    command,
    args,
  );
// Every scratch directory this test makes, removed when it ends.
const scratch = [];
function mkdtempSync(prefix) {
  const dir = makeTemp(prefix);
  scratch.push(dir);
  return dir;
}

const PICK_FILE = join(dirname(fileURLToPath(import.meta.url)), "pick-file.py");

/** Clicks "Import image…" and answers the native file dialog with `path`, as a user would. */
async function importThroughDialog(app, path) {
  await click(app, "[data-testid=import-image]");
  execFileSync("/usr/bin/python3", [PICK_FILE, "Import an image archive", path], {
    env: { ...process.env, DISPLAY: app.display },
    timeout: 30_000,
  });
}

const step = (app) => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step ?? null;");

/** A `docker save` archive at `path`: manifest.json naming one layer, the layer a tar of `root`. */
function dockerSave(path, root) {
  const outer = mkdtempSync(join(tmpdir(), "berth-e2e-image-"));
  mkdirSync(join(outer, "l0"));
  execFileSync("tar", ["-cPf", join(outer, "l0/layer.tar"), "-C", root, "."]);
  writeFileSync(join(outer, "manifest.json"), JSON.stringify([{ Config: "config.json", RepoTags: ["e2e:1"], Layers: ["l0/layer.tar"] }]));
  writeFileSync(join(outer, "config.json"), "{}");
  execFileSync("tar", ["-cf", path, "-C", outer, "manifest.json", "config.json", "l0"]);
}

/** A tiny root file system: this machine's dash and the libraries `ldd` says it loads. */
function dashRoot() {
  const root = mkdtempSync(join(tmpdir(), "berth-e2e-rootfs-"));
  for (const dir of ["usr/bin", "usr/lib", "usr/lib64", "etc"]) mkdirSync(join(root, dir), { recursive: true });
  for (const link of ["bin", "lib", "lib64", "sbin"]) symlinkSync(`usr/${link === "sbin" ? "bin" : link}`, join(root, link));
  copyFileSync("/usr/bin/dash", join(root, "usr/bin/dash"));
  symlinkSync("dash", join(root, "usr/bin/sh"));
  const libraries = execFileSync("ldd", ["/usr/bin/dash"], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.split(/\s+/).find((word) => word.startsWith("/")))
    .filter(Boolean);
  for (const library of libraries) {
    // /lib/... and /lib64/... are links into /usr, in the image as on Debian.
    const inside = join(root, library.replace(/^\/(lib|lib64)\//, "/usr/$1/"));
    mkdirSync(dirname(inside), { recursive: true });
    copyFileSync(realpathSync(library), inside);
  }
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  return root;
}

test("environments: an imported image is listed and selectable in the launcher, removable, and a hostile archive is refused", async () => {
  after(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });
  await withApp("environments", {}, async (app) => {
    const dir = mkdtempSync(join(tmpdir(), "berth-e2e-archives-"));
    const good = join(dir, "tiny-dash.tar");
    dockerSave(good, dashRoot());
    const imported = await invoke(app, "import_environment", { path: good, name: null });
    assert.equal(imported.error, undefined, JSON.stringify(imported.error));
    assert.equal(imported.ok.name, "tiny-dash", "named after the archive");
        assert.equal(imported.ok.kind, "image");
    const rootfs = dashRoot();
    const registered = await invoke(app, "add_rootfs_environment", { name: rootfs.split("/").pop(), path: rootfs });
    assert.equal(registered.error, undefined, JSON.stringify(registered.error));
    assert.equal(registered.ok.kind, "rootfs");
    const notAShell = mkdtempSync(join(tmpdir(), "berth-e2e-empty-"));
    const refusedDir = await invoke(app, "add_rootfs_environment", { name: "empty", path: notAShell });
    assert.equal(refusedDir.error.code, "invalid_input");
    assert.match(refusedDir.error.message, /bin\/sh/);

    // A layer naming ../escape: refused, and the message says which entry and why.
    const evilRoot = mkdtempSync(join(tmpdir(), "berth-e2e-evil-"));
    writeFileSync(join(evilRoot, "escape"), "x");
    const evilLayer = mkdtempSync(join(tmpdir(), "berth-e2e-evil-layer-"));
    execFileSync("tar", ["-cPf", join(evilLayer, "layer.tar"), "--transform", "s,^escape$,../escape,", "-C", evilRoot, "escape"]);
    const evil = join(dir, "evil.tar");
    const outer = mkdtempSync(join(tmpdir(), "berth-e2e-evil-outer-"));
    mkdirSync(join(outer, "l0"));
    copyFileSync(join(evilLayer, "layer.tar"), join(outer, "l0/layer.tar"));
    writeFileSync(join(outer, "manifest.json"), JSON.stringify([{ Config: "config.json", RepoTags: ["evil:1"], Layers: ["l0/layer.tar"] }]));
    writeFileSync(join(outer, "config.json"), "{}");
    execFileSync("tar", ["-cf", evil, "-C", outer, "manifest.json", "config.json", "l0"]);
    const refused = await invoke(app, "import_environment", { path: evil, name: null });
    assert.equal(refused.ok, undefined, "the hostile archive was imported");
    assert.equal(refused.error.code, "invalid_input");
    assert.match(refused.error.message, /refused/);
    assert.match(refused.error.message, /escape/);

    // The launcher's environment step lists the image next to this computer's, selectable.
    await click(app, "[data-testid=start-first-session]");
    await until("the type step", async () => (await step(app)) === "type");
    await click(app, "[data-testid=launcher-next]");
    await until("the environment step", async () => (await step(app)) === "environment");
    await waitForText(app, "[data-testid=launcher-environments] [data-environment=tiny-dash]", "tiny-dash");
    assert.equal(await run(app, "return document.querySelector('[data-environment=evil]');"), null, "nothing of the refused archive is listed");
    await click(app, "[data-environment=tiny-dash] input[name=environment]");
    assert.equal(await run(app, "return document.querySelector('input[name=environment]:checked').value;"), imported.ok.id);
    assert.equal(await run(app, "return document.querySelector('input[name=environment][value=host]').closest('.env-row').querySelector('[data-testid=remove-environment]');"), null, "the host cannot be removed");
    await screenshot(app, "environments-imported");

    // The same through the button and the native dialog: the hostile archive's refusal shows
    // inline with its advice; a good one is listed and picked at once.
    await importThroughDialog(app, evil);
    await waitForText(app, "[data-testid=environment-error]", "refused");
    await waitForText(app, "[data-testid=environment-error]", "That is not allowed");
    await screenshot(app, "environments-refused");
    const second = join(dir, "tiny-dash-2.tar");
    copyFileSync(good, second);
    await importThroughDialog(app, second);
    await waitForText(app, "[data-environment=tiny-dash-2]", "tiny-dash-2", 30_000);
    assert.equal(await textOf(app, "[data-testid=environment-error]"), null, "a new import clears the old error");
    assert.equal(await run(app, "return document.querySelector('input[name=environment]:checked').closest('.env-row').dataset.environment;"), "tiny-dash-2");
    assert.equal(await textOf(app, "[data-testid=import-image]"), "Import image…");

    // Remove, confirmed: gone from the list, and the pick falls back to this computer.
    await click(app, "[data-environment=tiny-dash-2] [data-testid=remove-environment]");
    await waitForText(app, "[data-testid=confirm]", "unpacked files are deleted");
    await screenshot(app, "environments-remove-confirm");
    await click(app, "[data-testid=confirm-button]");
    await until("the image gone", async () => (await run(app, "return document.querySelector('[data-environment=tiny-dash-2]');")) === null);
    assert.equal(await run(app, "return document.querySelector('input[name=environment]:checked').value;"), "host", "the pick falls back to this computer");
        const left = await invoke(app, "list_environments", {});
    assert.deepEqual(left.ok.map((e) => e.name).filter((n) => n.startsWith("tiny-dash")), ["tiny-dash"]);

    // The root file system registered before the launcher opened (through the command the
    // "Add root file system…" button calls after its native folder picker, which does not take
    // typed paths the way the file picker does): listed, and removing it leaves it on disk.
    const rootfsName = rootfs.split("/").pop();
    await waitForText(app, `[data-environment="${rootfsName}"]`, rootfsName);
    await click(app, `[data-environment="${rootfsName}"] [data-testid=remove-environment]`);
    await waitForText(app, "[data-testid=confirm]", "stays on disk");
    await click(app, "[data-testid=confirm-button]");
    await until("the root file system forgotten", async () => (await run(app, `return document.querySelector('[data-environment="${rootfsName}"]');`)) === null);
    assert.ok(existsSync(join(rootfs, "usr/bin/dash")), "the directory stays on disk");
  });
});
