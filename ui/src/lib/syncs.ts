// What a sync's row says: where it stands, in words.
import type { SyncRecord, SyncState } from "./bindings";

export function syncStateText(state: SyncState, paused: boolean, time: (ms: number) => string): string {
  if (paused) return "Paused";
  switch (state.state) {
    case "stopped":
      return "Not running";
    case "comparing":
      return "Comparing…";
    case "syncing":
      return state.files === 1 ? "Syncing 1 file…" : `Syncing ${state.files} files…`;
    case "in_step":
      return `In sync since ${time(state.at_ms)}${state.skipped > 0 ? ` · ${state.skipped} not synced (links)` : ""}`;
    case "waiting":
      return `Waiting: ${state.reason}`;
  }
}

/** `folder` or `folder/path`, as the row names the destination. */
export function syncTarget(sync: SyncRecord): string {
  return sync.path ? `${sync.folder}/${sync.path}` : sync.folder;
}
