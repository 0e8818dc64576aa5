// Files open in the user's own editor: copies Rust writes back to their folder at each save.
// The list follows Rust's events; the transfer panel shows it with what the user can do.
import { commands, events, type EditCopyView } from "./bindings";

export const editCopies = $state({ list: [] as EditCopyView[] });

let started = false;

export async function startEditCopies() {
  if (started) return;
  started = true;
  await events.editCopiesChanged.listen((event) => (editCopies.list = event.payload.copies));
  editCopies.list = await commands.editCopiesOpen();
}

/** What a copy's row says about it. */
export function copyStatusText(copy: EditCopyView, time: (ms: number) => string): string {
  const status = copy.status;
  switch (status.state) {
    case "in_step":
      return status.uploaded_ms === null
        ? "Open in your editor · each save goes to the folder"
        : `Saved to the folder at ${time(status.uploaded_ms)}${copy.uploads > 1 ? ` · ${copy.uploads} saves` : ""}`;
    case "uploading":
      return "Writing the save to the folder…";
    case "conflict":
      // The engine's whole sentence is the row's tooltip; the row says what matters.
      return "Changed in the folder meanwhile: your save is not in it";
    case "failed":
      return status.message;
  }
}

/** The copy's file name, as its row names it. */
export function copyName(copy: EditCopyView): string {
  return copy.path.split("/").pop() ?? copy.path;
}
