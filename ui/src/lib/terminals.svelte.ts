// The open terminal tabs. Tabs outlive page switches (the Terminals page stays mounted, only
// hidden), so a shell keeps its scrollback while the user looks at something else.
import { commands } from "./bindings";
import { engineState } from "./engine.svelte";
import { goTo } from "./navigation.svelte";
import type { TerminalEnd } from "./terminal";

export type TerminalTab = {
  /** Stable key for the tab (the Rust terminal id arrives later, after the shell opened). */
  key: number;
  sessionId: string;
  sessionName: string;
  /** 1, 2, … per session, for the label. */
  number: number;
  /** Set when the shell ended: why, for the tab and the bar over the terminal. */
  ended: TerminalEnd | null;
  /** How a cluster terminal is carried and why that way (the tab's tooltip); null locally. */
  transport: string | null;
  /** Why the terminal could not open, for the tab; null while opening or once open. */
  failure: string | null;
  /** The engine the session belongs to ("Local engine", "Backend.AI · prod"), as named when the
   * tab opened: tabs outlive a switch of engine, and then say whose they are. */
  engine: string;
};

let nextKey = 1;

export const terminalTabs = $state<{ tabs: TerminalTab[]; active: number | null }>({ tabs: [], active: null });

/** Opens a new terminal tab on session `sessionId` and shows it. */
export function openTerminalTab(sessionId: string, sessionName: string): void {
  const numbers = terminalTabs.tabs.filter((t) => t.sessionId === sessionId).map((t) => t.number);
  const number = numbers.length === 0 ? 1 : Math.max(...numbers) + 1;
  const engine = engineState.info.state === "ready" ? engineState.info.data.label : "";
  const tab: TerminalTab = { key: nextKey++, sessionId, sessionName, number, ended: null, transport: null, failure: null, engine };
  terminalTabs.tabs.push(tab);
  terminalTabs.active = tab.key;
  goTo("terminals");
}

export function closeTerminalTab(key: number): void {
  const index = terminalTabs.tabs.findIndex((t) => t.key === key);
  if (index < 0) return;
  terminalTabs.tabs.splice(index, 1);
  if (terminalTabs.active === key) {
    terminalTabs.active = terminalTabs.tabs[Math.min(index, terminalTabs.tabs.length - 1)]?.key ?? null;
  }
}

export function tabLabel(tab: TerminalTab): string {
  return `${tab.sessionName} #${tab.number}`;
}

/** The engine to name on a tab: its own, when the window has switched to another since. */
export function foreignEngine(tab: TerminalTab, activeEngine: string): string | null {
  return tab.engine !== "" && tab.engine !== activeEngine ? tab.engine : null;
}

/** The tab's tooltip: its label (and engine), then why it failed or ended, else how its bytes travel. */
export function tabTitle(tab: TerminalTab): string {
  const label = tab.engine === "" ? tabLabel(tab) : `${tabLabel(tab)} on ${tab.engine}`;
  if (tab.failure) return `${label}: could not open. ${tab.failure}`;
  if (tab.ended) return `${label}: ${tab.ended.message}`;
  return tab.transport ? `${label}: ${tab.transport}` : label;
}

/** Lines each tab keeps for scrolling back (Settings); open tabs follow a change at once. */
export const terminalSettings = $state<{ scrollback: number | null }>({ scrollback: null });

let scrollbackAsked: Promise<void> | undefined;

/** Reads the saved scrollback, once per window (again after a failure). */
export function loadTerminalSettings(): Promise<void> {
  scrollbackAsked ??= commands.terminalScrollback().then(
    (lines) => {
      terminalSettings.scrollback = lines;
    },
    () => {
      scrollbackAsked = undefined;
    },
  );
  return scrollbackAsked;
}
