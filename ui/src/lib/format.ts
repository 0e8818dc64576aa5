// How dates and labels read in tables: short, local, and the same on every screen.

/** A creation time for a table cell: today shows the time, older dates show the day. */
export function formatCreated(ms: number, now: Date = new Date()): string {
  const date = new Date(ms);
  const sameDay =
    date.getFullYear() === now.getFullYear() &&
    date.getMonth() === now.getMonth() &&
    date.getDate() === now.getDate();
  if (sameDay) {
    return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
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
