// The launcher's state lives here rather than in its component, so a detour to a folder's
// explorer (or another page) and back resumes the wizard where the user left it.
import { commands, type BerthError, type LaunchLink, type NewSession, type Session } from "./bindings";
import { goTo } from "./navigation.svelte";
import { showToast } from "./toasts.svelte";
import { draftFrom, emptyDraft, mountRequests, type Draft } from "./launcher";
import type { SessionFilter } from "./sessions";

export const launcher = $state<{ open: boolean; step: number; draft: Draft }>({
  open: false,
  step: 0,
  draft: emptyDraft(),
});

export function startLauncher(): void {
  if (launcher.open) return;
  launcher.step = 0;
  launcher.draft = emptyDraft();
  launcher.open = true;
}

/** Opens the launcher on `draft` (a template's setup) at `step`: the review to launch or change
 * it, or the step whose problem the user must fix first. */
export function startLauncherWith(draft: Draft, step: number): void {
  launcher.step = step;
  launcher.draft = draft;
  launcher.open = true;
}

/** The launcher's steps by name, for opening it where the user must look. */
export const STORAGE_STEP = 2;
export const REVIEW_STEP = 3;

/** How a one-click launch went. */
export type SetupLaunch =
  | { kind: "launched"; session: Session }
  | { kind: "failed"; error: BerthError }
  /** The launcher opened instead, at the step with the problem. */
  | { kind: "opened" };

/** Launches `spec` (a template's, or a past session's setup) in one go when the planner takes
 * its folders as they are; else opens the launcher at Data & Storage with the problem shown,
 * launching nothing. */
export async function launchSetup(spec: NewSession): Promise<SetupLaunch> {
  const draft = draftFrom(spec);
  const preview = await commands.previewMounts(mountRequests(draft.folders));
  if (preview.status === "error" || preview.data.problems.length > 0) {
    startLauncherWith(draft, STORAGE_STEP);
    return { kind: "opened" };
  }
  const created = await commands.createSession(spec);
  return created.status === "ok" ? { kind: "launched", session: created.data } : { kind: "failed", error: created.error };
}

export function closeLauncher(): void {
  launcher.open = false;
}

/** The Sessions page's own choices, kept across page switches like the launcher's. */
export const sessionsView = $state<{
  filter: SessionFilter;
  drawer: { id: string; initial: Session | null } | null;
  /** Sessions that died while Berth was closed, found in this run's first list; null once read. */
  endedUnwatched: string[] | null;
  /** Whether this run's first list was looked at for them (once per start, not per visit). */
  checkedEnded: boolean;
  /**
   * The last list read, with the engine generation it came from: coming back to the page
   * shows it at once and refreshes behind it, instead of a blank page while the engine
   * answers (with hundreds of sessions, the wait was a third of the page's time).
   */
  lastList: { generation: number; sessions: Session[] } | null;
}>({
  filter: "running",
  drawer: null,
  endedUnwatched: null,
  checkedEnded: false,
  lastList: null,
});

/**
 * Follows a `berth://launch?template=NAME` link: the Sessions page with the launcher open on
 * that template's review step, never launching; a template that is not there, or a link
 * Berth does not follow, is said in a toast.
 */
export async function followLaunchLink(link: LaunchLink): Promise<void> {
  if (link.kind === "refused") {
    showToast("link-refused", `Berth did not follow the link ${link.link}: ${link.message}`);
    return;
  }
  const listed = await commands.listTemplates();
  const template = listed.status === "ok" ? listed.data.templates.find((t) => t.name === link.name) : undefined;
  if (!template) {
    showToast("link-refused", `A link asked for template “${link.name}”, which is not saved here (see berth template list).`);
    return;
  }
  goTo("sessions");
  sessionsView.drawer = null;
  startLauncherWith(draftFrom(template.session), REVIEW_STEP);
  showToast("link-followed", `Opened template “${template.name}” from a link: check it, then Launch.`);
}
