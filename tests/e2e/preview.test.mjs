// Looking at files in a folder without downloading them: Space or Enter on a file in the
// explorer opens the preview — text with line numbers, a CSV as a table, JSON indented,
// Markdown rendered (a script in it stays text), a PNG as an image, bytes in hex — and a large
// log shows its first screen at once, reads more as it is scrolled, and jumps to its end.
// Escape closes it and the keys are the explorer's again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { CLI, click, pressKeys, run, screenshot, textOf, until, waitForText, withApp } from "./harness.mjs";

const KEY = { enter: "\uE007", escape: "\uE00C", space: " ", down: "\uE015" };

/** A real 3×2 PNG: red, green, blue over white, grey, black. */
function png() {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(3, 0);
  header.writeUInt32BE(2, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 255, 255, 128, 128, 128, 0, 0, 0]);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", header), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

/** A real one-page PDF with `text` on it in Helvetica. */
function pdf(text) {
  const stream = `BT /F1 28 Tf 30 60 Td (${text}) Tj ET`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets = objects.map((body, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const at of offsets) out += `${String(at).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

const preview = (app) =>
  run(
    app,
    `const d = document.querySelector('[data-testid=file-preview]');
     if (!d || !d.open) return null;
     const text = (css) => d.querySelector(css)?.textContent ?? null;
     const img = d.querySelector('[data-testid=preview-image]');
     return {
       kind: d.dataset.kind,
       facts: text('[data-testid=preview-facts]'),
       gutter: text('[data-testid=preview-gutter]'),
       text: text('[data-testid=preview-text]'),
       hex: text('[data-testid=preview-hex]'),
       cells: [...d.querySelectorAll('[data-testid=preview-table] tr')].map((r) => [...r.children].map((c) => c.textContent)),
       markdown: d.querySelector('[data-testid=preview-markdown]')?.innerHTML ?? null,
       headings: [...d.querySelectorAll('[data-testid=preview-markdown] h3')].map((h) => h.textContent),
       image: img ? { width: img.naturalWidth, height: img.naturalHeight, complete: img.complete } : null,
       scripts: d.querySelectorAll('script').length,
     };`,
  );

/** Selects `name` in the explorer and presses `key` on it; the preview it opens. */
async function look(app, name, key, kind) {
  await click(app, `[data-testid=explorer-rows] [data-name='${name}']`);
  await pressKeys(app, [key]);
  return until(`the ${kind} preview of ${name}`, async () => {
    const seen = await preview(app);
    return seen && seen.kind === kind && (kind !== "image" || seen.image?.complete) ? seen : null;
  }, 15_000);
}

async function close(app) {
  await pressKeys(app, [KEY.escape]);
  await until("the preview closed", async () => (await preview(app)) === null, 5_000);
}

test("preview: text, table, JSON, Markdown, image and bytes from the keyboard; a big log a screen at a time", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-preview-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "look");
  const root = JSON.parse(berth("--json", "folder", "info", "look")).path;
  writeFileSync(join(root, "a-notes.txt"), "first line\nsecond line\nthird ✓ line\n");
  writeFileSync(join(root, "b-data.csv"), 'name,note\n"Kim, J.","said ""hi"""\nLee,plain\n');
  writeFileSync(join(root, "c-config.json"), '{"lr":0.1,"layers":[64,32]}');
  writeFileSync(join(root, "d-README.md"), "# Project\n\nRun **train.py** with `--lr`.\n\n<script>alert(1)</script>\n\n- one\n- two\n");
  writeFileSync(join(root, "e-plot.png"), png());
  writeFileSync(join(root, "f-weights.bin"), Buffer.from([0x00, 0x01, 0x42, 0x65, 0x72, 0x74, 0x68, 0xff]));
  writeFileSync(join(root, "i-paper.pdf"), pdf("Hello, PDF"));
  writeFileSync(join(root, "h-train.py"), 'def train(lr=0.1):\n    return "done"  # <b>not markup</b>\n');
  // 40 MB of log lines: far more than one screen.
  const line = (i) => `step ${String(i).padStart(8, "0")} loss=0.${i % 997}\n`;
  const fd = openSync(join(root, "g-train.log"), "w");
  for (let block = 0; block < 400; block++) {
    writeSync(fd, Array.from({ length: 4000 }, (_, j) => line(block * 4000 + j)).join(""));
  }
  closeSync(fd);

  await withApp("preview", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=look] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "9 items");

    let seen = await look(app, "a-notes.txt", KEY.space, "text");
    assert.equal(seen.text, "first line\nsecond line\nthird ✓ line\n");
    assert.equal(seen.gutter, "1\n2\n3");
    assert.equal(seen.facts.trim(), "Text · 38 B");
    await screenshot(app, "preview-text");
    await close(app);
    // The explorer has the keys again: Down moves to the next file, Enter looks at it.
    await until("the list has the keys again", () =>
      run(app, "return document.activeElement?.getAttribute('data-testid') === 'explorer-rows';"),
    5_000);
    await pressKeys(app, [KEY.down, KEY.enter]);
    seen = await until("the table preview after Down, Enter", async () => (await preview(app))?.kind === "table" ? preview(app) : null, 10_000);
    assert.deepEqual(seen.cells, [["name", "note"], ["Kim, J.", 'said "hi"'], ["Lee", "plain"]]);
    await close(app);

    seen = await look(app, "c-config.json", KEY.enter, "json");
    assert.equal(seen.text, '{\n  "lr": 0.1,\n  "layers": [\n    64,\n    32\n  ]\n}');
    await close(app);

    seen = await look(app, "d-README.md", KEY.space, "markdown");
    assert.deepEqual(seen.headings, ["Project"]);
    assert.match(seen.markdown, /<strong>train\.py<\/strong>/);
    assert.match(seen.markdown, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, "the script is shown as text");
    assert.equal(seen.scripts, 0);
    await screenshot(app, "preview-markdown");
    await close(app);

    seen = await look(app, "e-plot.png", KEY.space, "image");
    assert.deepEqual(seen.image, { width: 3, height: 2, complete: true });
    await close(app);

    seen = await look(app, "f-weights.bin", KEY.space, "hex");
    assert.equal(seen.hex, "00000000  00 01 42 65 72 74 68 ff                           ..Berth.");
    await close(app);

    // Code in colours: tokens as coloured text, nothing from the file taken as markup.
    seen = await look(app, "h-train.py", KEY.space, "text");
    const tones = await until("the colours", () =>
      run(app, `const t = document.querySelector('[data-testid=preview-text][data-coloured=true]');
        return t ? [...t.querySelectorAll('span[class]')].map((s) => [[...s.classList].find((c) => c.startsWith('tone-')), s.textContent]) : null;`), 10_000);
    const toneOf = (text) => tones.find(([, t]) => t.includes(text))?.[0];
    assert.equal(toneOf("def"), "tone-keyword");
    assert.equal(toneOf('"done"'), "tone-string");
    assert.equal(toneOf("# <b>not markup</b>"), "tone-comment");
    assert.equal(await run(app, "return document.querySelectorAll('[data-testid=preview-text] b').length;"), 0);
    assert.equal((await preview(app)).text, 'def train(lr=0.1):\n    return "done"  # <b>not markup</b>\n');
    await screenshot(app, "preview-code");
    await close(app);

    // A PDF drawn by the page, on every platform alike.
    seen = await look(app, "i-paper.pdf", KEY.space, "pdf");
    const drawn = await until("the PDF's page drawn", () =>
      run(app, `const d = document.querySelector('[data-testid=preview-pdf]');
        const c = d?.querySelector('canvas');
        if (!c || d.dataset.pages !== '1') return null;
        const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let dark = 0;
        for (let i = 0; i < pixels.length; i += 4) if (pixels[i] < 100 && pixels[i + 3] > 0) dark++;
        return dark > 50 ? { width: c.width, dark } : null;`), 15_000);
    assert.ok(drawn.width > 300, JSON.stringify(drawn));
    assert.match(seen.facts, /^PDF · /);
    await screenshot(app, "preview-pdf");
    await close(app);

    // The big log: its first screen at once, with the true size, and more as it is scrolled.
    seen = await look(app, "g-train.log", KEY.space, "text");
    assert.match(seen.facts, /^Text · \d+\.\d MiB · first 64\.0 KiB shown$/);
    assert.ok(seen.text.startsWith("step 00000000 loss=0.0\nstep 00000001"), seen.text.slice(0, 60));
    const firstLines = seen.gutter.split("\n").length;
    await run(app, "const v = document.querySelector('[data-testid=preview-view]'); v.scrollTop = v.scrollHeight;");
    const more = await until("more lines after scrolling", async () => {
      const now = await preview(app);
      return now && now.gutter.split("\n").length > firstLines ? now : null;
    }, 10_000);
    const lines = more.text.split("\n");
    assert.equal(lines[firstLines + 1], line(firstLines + 1).trimEnd(), "the next lines follow on, none lost at the seam");
    // A log's end at once: its last screen, from a whole line, and what is skipped said.
    await click(app, "[data-testid=preview-end]");
    const tail = await until("the log's last screen", () => textOf(app, "[data-testid=preview-tail]"), 10_000);
    assert.ok(tail.endsWith(line(1_599_999)), tail.slice(-80));
    assert.match(tail, /^step \d{8} loss=0\.\d+\n/, "it starts at a whole line");
    assert.match(await textOf(app, "[data-testid=preview-gap]"), /^⋯ \d+\.\d MiB not shown ⋯$/);
    assert.match(await textOf(app, "[data-testid=preview-facts]"), /first 128\.0 KiB and last 64\.0 KiB shown/);
    await screenshot(app, "preview-big-log");
    await close(app);
    assert.equal(await textOf(app, "[data-testid=explorer-count]"), "9 items · 1 selected", "the selection stays");
  });
});
