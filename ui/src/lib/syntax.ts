// Syntax colours for the preview: Prism's tokenizer (its public `tokenize`, which returns a tree
// of strings), rendered by the page as text in coloured spans — no markup from the file or the
// highlighter ever reaches the page. Prism and its languages load on first use.
import type { Token, TokenStream } from "prismjs";

/** A run of text and the colour it takes (`null`: the text's own). */
export type Piece = { text: string; tone: Tone | null };
export type Tone = "keyword" | "string" | "comment" | "number" | "function" | "type" | "constant" | "attr";

/** Files larger than this are shown plain: colouring them would cost more than it helps. */
export const MOST_COLOURED = 256 * 1024;

/** File extension (or whole name) → Prism language, and the language files it needs, in order. */
const LANGUAGES: Record<string, { language: string; load: string[] }> = {
  py: { language: "python", load: ["python"] },
  pyi: { language: "python", load: ["python"] },
  js: { language: "javascript", load: [] },
  mjs: { language: "javascript", load: [] },
  cjs: { language: "javascript", load: [] },
  ts: { language: "typescript", load: ["typescript"] },
  sh: { language: "bash", load: ["bash"] },
  bash: { language: "bash", load: ["bash"] },
  zsh: { language: "bash", load: ["bash"] },
  yaml: { language: "yaml", load: ["yaml"] },
  yml: { language: "yaml", load: ["yaml"] },
  toml: { language: "toml", load: ["toml"] },
  ini: { language: "ini", load: ["ini"] },
  cfg: { language: "ini", load: ["ini"] },
  rs: { language: "rust", load: ["rust"] },
  go: { language: "go", load: ["go"] },
  c: { language: "c", load: ["c"] },
  h: { language: "c", load: ["c"] },
  cpp: { language: "cpp", load: ["c", "cpp"] },
  cc: { language: "cpp", load: ["c", "cpp"] },
  hpp: { language: "cpp", load: ["c", "cpp"] },
  cu: { language: "cpp", load: ["c", "cpp"] },
  java: { language: "java", load: ["java"] },
  sql: { language: "sql", load: ["sql"] },
  r: { language: "r", load: ["r"] },
  css: { language: "css", load: [] },
  html: { language: "markup", load: [] },
  xml: { language: "markup", load: [] },
  svg: { language: "markup", load: [] },
  dockerfile: { language: "docker", load: ["docker"] },
};

/** The language a file is coloured as, by its name; `null`: none. */
export function languageOf(name: string): { language: string; load: string[] } | null {
  const lower = name.toLowerCase();
  if (lower === "dockerfile" || lower.startsWith("dockerfile.")) return LANGUAGES.dockerfile;
  const dot = lower.lastIndexOf(".");
  return dot > 0 ? (LANGUAGES[lower.slice(dot + 1)] ?? null) : null;
}

/** Prism's kinds of token, as the preview colours them. */
function toneOf(kind: string): Tone | null {
  switch (kind) {
    case "keyword":
    case "important":
    case "atrule":
    case "selector":
    case "tag":
      return "keyword";
    case "string":
    case "char":
    case "regex":
    case "attr-value":
    case "url":
      return "string";
    case "comment":
    case "prolog":
    case "doctype":
    case "cdata":
      return "comment";
    case "number":
      return "number";
    case "function":
    case "function-definition":
    case "decorator":
    case "macro":
      return "function";
    case "class-name":
    case "builtin":
    case "type":
    case "namespace":
      return "type";
    case "boolean":
    case "constant":
    case "symbol":
    case "variable":
      return "constant";
    case "attr-name":
    case "property":
    case "key":
    case "section":
    case "table":
    case "header":
      return "attr";
    default:
      return null;
  }
}

/** Flattens Prism's tree into runs of text, the innermost known kind deciding the colour;
 * neighbouring runs of one colour become one. */
export function flatten(stream: TokenStream, tone: Tone | null = null, out: Piece[] = []): Piece[] {
  const items = Array.isArray(stream) ? stream : [stream];
  for (const item of items) {
    if (typeof item === "string") {
      const last = out[out.length - 1];
      if (last && last.tone === tone) last.text += item;
      else out.push({ text: item, tone });
    } else {
      const token = item as Token;
      flatten(token.content, toneOf(token.type) ?? tone, out);
    }
  }
  return out;
}

type PrismModule = typeof import("prismjs");
let prism: Promise<PrismModule> | null = null;
const loaded = new Set<string>();

/** `text` coloured as `name`'s language; `null` when it has none (or is too large). */
export async function colour(name: string, text: string): Promise<Piece[] | null> {
  const language = languageOf(name);
  if (!language || text.length > MOST_COLOURED) return null;
  prism ??= (async () => {
    // Prism's language files add themselves to a global `Prism`; `manual` keeps it from
    // colouring the page by itself.
    (globalThis as { Prism?: unknown }).Prism = { manual: true };
    const module = await import("prismjs");
    const Prism = (module as { default?: PrismModule }).default ?? module;
    (globalThis as { Prism?: unknown }).Prism = Prism;
    return Prism;
  })();
  const Prism = await prism;
  for (const file of language.load) {
    if (loaded.has(file)) continue;
    await LOADERS[file]();
    loaded.add(file);
  }
  const grammar = Prism.languages[language.language];
  return grammar ? flatten(Prism.tokenize(text, grammar)) : null;
}

/** Each language file, loaded on first use (listed so the bundler can find them). */
const LOADERS: Record<string, () => Promise<unknown>> = {
  python: () => import("prismjs/components/prism-python"),
  typescript: () => import("prismjs/components/prism-typescript"),
  bash: () => import("prismjs/components/prism-bash"),
  yaml: () => import("prismjs/components/prism-yaml"),
  toml: () => import("prismjs/components/prism-toml"),
  ini: () => import("prismjs/components/prism-ini"),
  rust: () => import("prismjs/components/prism-rust"),
  go: () => import("prismjs/components/prism-go"),
  c: () => import("prismjs/components/prism-c"),
  cpp: () => import("prismjs/components/prism-cpp"),
  java: () => import("prismjs/components/prism-java"),
  sql: () => import("prismjs/components/prism-sql"),
  r: () => import("prismjs/components/prism-r"),
  docker: () => import("prismjs/components/prism-docker"),
};
