// What a sync's row says: where it stands, in words.
import type { SyncDirection, SyncRecord, SyncState } from "./bindings";

export function syncStateText(state: SyncState, paused: boolean, time: (ms: number) => string): string {
  if (paused) return "Paused";
  switch (state.state) {
    case "stopped":
      return "Not running";
    case "comparing":
      return "Comparing…";
    case "syncing":
      return state.files === 1 ? "Syncing 1 file…" : `Syncing ${state.files} files…`;
    case "in_step": {
      const conflicts = state.conflicts?.length ?? 0;
      return (
        `In sync since ${time(state.at_ms)}` +
        (state.skipped > 0 ? ` · ${state.skipped} not synced (links)` : "") +
        (conflicts === 1 ? " · 1 conflict" : conflicts > 1 ? ` · ${conflicts} conflicts` : "")
      );
    }
    case "waiting":
      return `Waiting: ${state.reason}`;
  }
}

/** `folder` or `folder/path`, as the row names the destination. */
export function syncTarget(sync: SyncRecord): string {
  return sync.path ? `${sync.folder}/${sync.path}` : sync.folder;
}

/** Which way a sync's files go, as its row shows it. */
export const directionArrow: Record<SyncDirection, string> = { push: "→", pull: "←", both: "↔" };

/** The form's words for each direction, and what "mirror deletions" means for it. */
export const directionChoices: { value: SyncDirection; label: string; deletes: string }[] = [
  { value: "push", label: "Send my changes to the folder", deletes: "Delete in the folder what I delete here" },
  { value: "pull", label: "Bring the folder's changes here", deletes: "Delete here what is deleted in the folder" },
  { value: "both", label: "Both ways", deletes: "Mirror deletions both ways" },
];
