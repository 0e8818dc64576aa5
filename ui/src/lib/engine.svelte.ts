// Which engine the window works with — this computer or a Backend.AI profile — and switching
// between them from the status bar. Pages render once the engine is known and are mounted anew
// on every switch (`generation`), so no screen shows one engine's data under another's name.
import { commands, type BerthError, type EngineInfo, type ProfilesView } from "./bindings";
import { load, type Loaded } from "./api";
import { emptyDraft } from "./launcher";
import { launcher, sessionsView } from "./launcher.svelte";
import { transfers } from "./transfers.svelte";

export const engineState = $state<{
  info: Loaded<EngineInfo>;
  profiles: ProfilesView | null;
  /** Bumped on every switch; the pages are keyed on it. */
  generation: number;
  /** The profile being connected to, while the status bar says so. */
  connecting: string | null;
  /** Why the last switch failed (the window stays on the engine it had). */
  switchError: { profile: string; error: BerthError } | null;
  /** Set when a call found the login expired: the re-login dialog is open for this profile. */
  relogin: string | null;
  /** The profiles dialog is open. */
  managing: boolean;
}>({
  info: { state: "loading" },
  profiles: null,
  generation: 0,
  connecting: null,
  switchError: null,
  relogin: null,
  managing: false,
});

export async function refreshProfiles(): Promise<void> {
  const result = await load(commands.listProfiles);
  engineState.profiles = result.state === "ready" ? result.data : null;
}

/** At start: reconnect to the profile chosen last, or stay on this computer. */
export async function startEngine(): Promise<void> {
  await refreshProfiles();
  const active = engineState.profiles?.active ?? null;
  if (active !== null && engineState.profiles?.connected !== active) {
    await switchEngine(active);
    if (engineState.info.state === "ready") return;
  }
  engineState.info = await load(commands.engineInfo);
}

/** The window now works with the engine `info` describes: every engine-bound choice starts over
 * (a launcher draft naming the other engine's folders, an open drawer of its session). */
export function engineSwitched(info: EngineInfo): void {
  engineState.info = { state: "ready", data: info };
  launcher.open = false;
  launcher.draft = emptyDraft();
  sessionsView.drawer = null;
  void transfers.restart();
  engineState.generation += 1;
}

/** Switches to profile `name`, or to this computer with null. */
export async function switchEngine(name: string | null): Promise<boolean> {
  engineState.connecting = name;
  engineState.switchError = null;
  const result = await load(() => commands.useProfile(name));
  engineState.connecting = null;
  if (result.state === "ready") {
    engineSwitched(result.data);
    await refreshProfiles();
    return true;
  }
  if (result.state === "failed") {
    engineState.switchError = { profile: name ?? "local", error: result.error };
    // The window keeps (or, at start, falls back to) the engine Rust still has.
    if (engineState.info.state !== "ready") engineState.info = await load(commands.engineInfo);
  }
  return false;
}

/** Every page hands its failures here: an expired login opens the re-login dialog. */
export function noticeError(error: BerthError): void {
  const connected = engineState.profiles?.connected ?? null;
  if (error.code === "login_expired" && connected !== null) engineState.relogin = connected;
}
