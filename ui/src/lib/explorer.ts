// The explorer's pure logic: sorting, selection and paths, kept out of the component so it is
// unit-tested without a window.
import type { FileEntry, FileName } from "./bindings";

export type SortKey = "name" | "size" | "modified" | "kind";
export type Sort = { key: SortKey; ascending: boolean };

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Directories first (as every file manager does), then by the chosen column, then by name. */
export function sortEntries(entries: FileEntry[], sort: Sort): FileEntry[] {
  const direction = sort.ascending ? 1 : -1;
  const compare = (a: FileEntry, b: FileEntry): number => {
    const dirs = Number(b.kind === "directory") - Number(a.kind === "directory");
    if (dirs !== 0) return dirs;
    let by = 0;
    if (sort.key === "size") by = a.size - b.size;
    else if (sort.key === "modified") by = (a.modified_ms ?? 0) - (b.modified_ms ?? 0);
    else if (sort.key === "kind") by = collator.compare(a.kind, b.kind);
    return by !== 0 ? by * direction : collator.compare(a.name, b.name) * (sort.key === "name" ? direction : 1);
  };
  return [...entries].sort(compare);
}

/** `a/b` + `c` → `a/b/c`; the root is "". */
export function childPath(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** `a/b/c` → `a/b`; the root's parent is the root. */
export function parentPath(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** Breadcrumb steps for `a/b/c`: [{name: "a", path: "a"}, {name: "b", path: "a/b"}, ...]. */
export function crumbs(path: string): { name: string; path: string }[] {
  if (path === "") return [];
  const parts = path.split("/");
  return parts.map((name, i) => ({ name, path: parts.slice(0, i + 1).join("/") }));
}

/**
 * The selection after a click on row `index`, the way desktop file managers do it: a plain click
 * selects one, Ctrl/Cmd toggles one, Shift extends from the anchor.
 */
export function clickSelection(
  selected: Set<string>,
  names: string[],
  index: number,
  anchor: number | null,
  modifiers: { toggle: boolean; range: boolean },
): { selected: Set<string>; anchor: number } {
  const name = names[index];
  if (modifiers.range && anchor !== null) {
    const [from, to] = anchor < index ? [anchor, index] : [index, anchor];
    const next = modifiers.toggle ? new Set(selected) : new Set<string>();
    for (let i = from; i <= to; i++) next.add(names[i]);
    return { selected: next, anchor };
  }
  if (modifiers.toggle) {
    const next = new Set(selected);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    return { selected: next, anchor: index };
  }
  return { selected: new Set([name]), anchor: index };
}

/** The rows a virtual list renders for a scroll position: what is visible plus `overscan`. */
export function visibleRange(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  count: number,
  overscan = 8,
): { start: number; end: number } {
  const start = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const end = Math.min(count, Math.ceil((scrollTop + viewportHeight) / rowHeight) + overscan);
  return { start, end };
}

/**
 * The rows to show: names in the engine's order (directories first, natural order) for the
 * default sort, reversed per group for descending; other columns sort what is known, with
 * entries whose details have not arrived standing in with empty sizes and times.
 */
export function arrange(names: FileName[], details: Map<string, FileEntry>, sort: Sort): FileEntry[] {
  const rows = names.map((n) => details.get(n.name) ?? { name: n.name, kind: n.kind, size: 0, modified_ms: null, link_target: null });
  if (sort.key !== "name") return sortEntries(rows, sort);
  if (sort.ascending) return rows;
  const dirs = rows.filter((r) => r.kind === "directory").reverse();
  const others = rows.filter((r) => r.kind !== "directory").reverse();
  return [...dirs, ...others];
}
