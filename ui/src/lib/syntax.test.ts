import { describe, expect, it } from "vitest";
import { colour, languageOf, MOST_COLOURED } from "./syntax";

describe("syntax colours", () => {
  it("colours Python: keywords, strings, comments, numbers, and the text reads as the file", async () => {
    const text = 'def train(lr=0.1):\n    return "done"  # <b>not markup</b>\n';
    const pieces = (await colour("train.py", text))!;
    expect(pieces.map((p) => p.text).join("")).toBe(text);
    const tone = (t: string) => pieces.find((p) => p.text.includes(t))?.tone;
    expect(tone("def")).toBe("keyword");
    expect(tone('"done"')).toBe("string");
    expect(tone("# <b>not markup</b>")).toBe("comment");
    expect(tone("0.1")).toBe("number");
    expect(tone("train")).toBe("function");
  });

  it("knows languages by extension and by name, and leaves others alone", async () => {
    expect(languageOf("run.SH")?.language).toBe("bash");
    expect(languageOf("Dockerfile")?.language).toBe("docker");
    expect(languageOf("kernel.cu")?.language).toBe("cpp");
    expect(languageOf("notes.txt")).toBeNull();
    expect(await colour("notes.txt", "plain")).toBeNull();
    const yaml = (await colour("config.yaml", "lr: 0.1\nname: run\n"))!;
    expect(yaml.find((p) => p.text === "lr")?.tone).toBe("attr");
    const cpp = (await colour("k.cpp", "int main() { return 0; }"))!;
    expect(cpp.find((p) => p.text === "int")?.tone).toBe("keyword");
  });

  it("leaves a large file plain", async () => {
    expect(await colour("big.py", "x = 1\n".repeat(MOST_COLOURED / 6 + 1))).toBeNull();
  });
});
