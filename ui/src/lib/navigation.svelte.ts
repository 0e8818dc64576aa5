// Which page is on screen, and cross-page jumps: a folder name in the launcher or the session
// drawer opens that folder's explorer, and closing the explorer returns where the user was.
export type Page = "sessions" | "terminals" | "storage" | "ports" | "settings";

export const navigation = $state<{
  page: Page;
  /** What a page would lose if left now (an editor with unsaved text), or null. */
  unsaved: string | null;
  /** A page the user asked for while `unsaved` was set: the leave question is on screen. */
  leavingFor: Page | null;
  /** A folder whose explorer the Data & Storage page should open next. */
  folderToOpen: string | null;
  /** Where closing that explorer goes back to (the launcher keeps its state meanwhile). */
  backTo: Page | null;
}>({ page: "sessions", folderToOpen: null, backTo: null, unsaved: null, leavingFor: null });

/** Shows `page`, unless the current one has unsaved changes: then the user is asked first. */
export function goTo(page: Page): void {
  if (page === navigation.page) return;
  if (navigation.unsaved !== null) {
    navigation.leavingFor = page;
    return;
  }
  navigation.page = page;
}

/** The user chose to drop the unsaved changes and go on to the page they asked for. */
export function leaveAnyway(): void {
  const page = navigation.leavingFor;
  navigation.unsaved = null;
  navigation.leavingFor = null;
  if (page) navigation.page = page;
}

/** Opens `folder` in the Data & Storage explorer; closing it returns to the current page. */
export function openFolderExplorer(folder: string): void {
  navigation.backTo = navigation.page === "storage" ? null : navigation.page;
  navigation.folderToOpen = folder;
  navigation.page = "storage";
}
