// Short-lived notices at the window's corner ("Session x is ready"), each with at most one
// action. They live outside any page so a page switch does not drop one the user has not read.

export type ToastAction = { label: string; run: () => void };

export type Toast = {
  key: number;
  message: string;
  action: ToastAction | null;
  /** For tests and styling: what kind of notice it is. */
  kind: string;
  /** What it is about (a session's id), so it can go when that thing does; null: nothing. */
  subject: string | null;
};

/** Long enough to notice after looking away for a moment; the × closes it sooner. */
export const TOAST_MS = 30_000;

let nextKey = 1;

export const toasts = $state<{ list: Toast[] }>({ list: [] });

/** Shows a toast; it goes by itself after `ms`, after its action runs, or when closed. */
export function showToast(
  kind: string,
  message: string,
  action: ToastAction | null = null,
  { ms = TOAST_MS, subject = null }: { ms?: number; subject?: string | null } = {},
): number {
  const key = nextKey++;
  toasts.list.push({ key, message, action, kind, subject });
  setTimeout(() => dismissToast(key), ms);
  return key;
}

export function dismissToast(key: number): void {
  const index = toasts.list.findIndex((t) => t.key === key);
  if (index >= 0) toasts.list.splice(index, 1);
}

/**
 * Takes away every toast about `subject` (a destroyed session's "ready · Open terminal"), or
 * only those of `kind` (the offer to open a terminal, once one is open).
 */
export function dismissToastsAbout(subject: string, kind: string | null = null): void {
  for (const toast of toasts.list.filter((t) => t.subject === subject && (kind === null || t.kind === kind))) {
    dismissToast(toast.key);
  }
}

/** Kinds of toast that offer something to do with a session while it runs. */
const OFFERS = ["session-ready", "session-ending"];

/**
 * Takes away the offers about a session that has ended ("ready · Open terminal", "Extend 1 h"),
 * keeping the news of how it ended ("stopped: …", "finished"): that news may come first.
 */
export function dismissOffersAbout(subject: string): void {
  for (const toast of toasts.list.filter((t) => t.subject === subject && OFFERS.includes(t.kind))) {
    dismissToast(toast.key);
  }
}
