import { describe, expect, it, vi } from "vitest";

vi.mock("./bindings", () => ({ commands: {}, events: {} }));
const { copyName, copyStatusText } = await import("./editCopies.svelte");

const copy = (status: object, uploads = 0) =>
  ({ id: "1", engine: "Local engine", folder: "proj", path: "src/train.py", local_path: "/tmp/x/train.py", status, uploads }) as never;
const time = (ms: number) => `@${ms}`;

describe("a copy's row", () => {
  it("says whether the folder has the latest save", () => {
    expect(copyStatusText(copy({ state: "in_step", uploaded_ms: null }), time)).toBe("Open in your editor · each save goes to the folder");
    expect(copyStatusText(copy({ state: "in_step", uploaded_ms: 5 }, 1), time)).toBe("Saved to the folder at @5");
    expect(copyStatusText(copy({ state: "in_step", uploaded_ms: 5 }, 3), time)).toBe("Saved to the folder at @5 · 3 saves");
    expect(copyStatusText(copy({ state: "uploading" }), time)).toBe("Writing the save to the folder…");
  });

  it("says a conflict in a few words and a failure in the engine's", () => {
    expect(copyStatusText(copy({ state: "conflict", message: "changed since you opened it" }), time)).toBe(
      "Changed in the folder meanwhile: your save is not in it",
    );
    expect(copyStatusText(copy({ state: "failed", message: "Folder is read-only." }), time)).toBe("Folder is read-only.");
  });

  it("is named by the file", () => {
    expect(copyName(copy({ state: "uploading" }))).toBe("train.py");
  });
});
