// How dates and labels read in tables: short, local, and the same on every screen.

/** A creation time for a table cell: today shows the time, older dates show the day. */
// Made once: `toLocaleTimeString` with options builds a formatter per call, and a list of 200
// sessions spent more time there than in drawing its rows (`scripts/bench-sessions-page`).
const TIME_OF_DAY = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const DAY = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });

export function formatCreated(ms: number, now: Date = new Date()): string {
  const date = new Date(ms);
  const sameDay =
    date.getFullYear() === now.getFullYear() &&
    date.getMonth() === now.getMonth() &&
    date.getDate() === now.getDate();
  return sameDay ? TIME_OF_DAY.format(date) : DAY.format(date);
}

/** `snake_case` enum values from Rust as words for people: `usage_mode` → "Usage mode". */
export function humanize(value: string): string {
  const words = value.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const PERMISSION_LABELS: Record<string, string> = {
  ro: "Read only",
  rw: "Read & write",
  wd: "Read, write & delete",
};

export function permissionLabel(permission: string): string {
  return PERMISSION_LABELS[permission] ?? permission;
}

/** A size as a file manager shows it, the same steps as the CLI: `1.5 KiB`, `5.0 GiB`. */
export function humanBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit + 1 < units.length) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Case- and accent-insensitive substring search, as people expect from a search box. */
export function matchesSearch(name: string, query: string): boolean {
  const fold = (s: string) => s.normalize("NFD").replace(/\p{M}/gu, "").toLocaleLowerCase();
  return fold(name).includes(fold(query.trim()));
}
