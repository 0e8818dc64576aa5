// Which page is on screen, and cross-page jumps: a folder name in the launcher or the session
// drawer opens that folder's explorer, and closing the explorer returns where the user was.
export type Page = "sessions" | "terminals" | "storage";

export const navigation = $state<{
  page: Page;
  /** A folder whose explorer the Data & Storage page should open next. */
  folderToOpen: string | null;
  /** Where closing that explorer goes back to (the launcher keeps its state meanwhile). */
  backTo: Page | null;
}>({ page: "sessions", folderToOpen: null, backTo: null });

export function goTo(page: Page): void {
  navigation.page = page;
}

/** Opens `folder` in the Data & Storage explorer; closing it returns to the current page. */
export function openFolderExplorer(folder: string): void {
  navigation.backTo = navigation.page === "storage" ? null : navigation.page;
  navigation.folderToOpen = folder;
  navigation.page = "storage";
}
