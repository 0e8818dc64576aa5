// The transfer panel's live view of the queue: the job list read once, then kept current from
// the queue's event channel (progress, state changes, finished batches).
import { Channel } from "@tauri-apps/api/core";
import { commands, type Job, type QueueEvent } from "./bindings";
import type { Page } from "./navigation.svelte";

export type Live = Job & { bytes_per_second: number; eta_seconds: number | null };

class TransferStore {
  jobs = $state<Live[]>([]);
  /** Bumped when a batch finishes, so open explorers can refresh. */
  finishedBatches = $state(0);
  private started = false;
  private index = new Map<number, number>();
  private reloads = 0;
  /**
   * For each list being read: the jobs events changed meanwhile. The list is a snapshot taken
   * at some moment during the call, so for those jobs what the events said is at least as new
   * (and any later change still has its event on the way); the snapshot must not undo them.
   */
  private reading = new Set<Set<number>>();
  /** Which engine's queue the panel shows; events of an earlier one's channel are dropped. */
  private watching = 0;

  async start() {
    if (this.started) return;
    this.started = true;
    await this.watch();
  }

  /** The window switched engines: show the new engine's queue (the old one keeps running). */
  async restart() {
    if (!this.started) return;
    this.jobs = [];
    this.index = new Map();
    await this.watch();
  }

  private async watch() {
    const generation = ++this.watching;
    const channel = new Channel<QueueEvent>();
    channel.onmessage = (event) => {
      if (generation === this.watching) this.apply(event);
    };
    // Events that arrive while the first list is read are kept over it, like any reload's.
    await this.reload(async () => {
      await commands.watchTransfers(channel);
    });
  }

  /**
   * Reads the whole list again (after clearing finished jobs, which sends no events), keeping
   * what events said about a job while the list was read. `before` runs first, inside the
   * window in which events are kept.
   */
  async reload(before?: () => Promise<void>) {
    const seq = ++this.reloads;
    const changed = new Set<number>();
    this.reading.add(changed);
    try {
      await before?.();
      const result = await commands.listTransfers();
      if (result.status !== "ok" || seq !== this.reloads) return;
      const live = new Map(this.jobs.map((j) => [j.id, j]));
      const listed = new Set(result.data.map((job) => job.id));
      const jobs: Live[] = result.data.map((job) => {
        const now = live.get(job.id);
        if (now && changed.has(job.id)) return now;
        return { ...job, bytes_per_second: now?.bytes_per_second ?? 0, eta_seconds: now?.eta_seconds ?? null };
      });
      // Queued while the list was read, after its snapshot.
      for (const id of changed) {
        const now = live.get(id);
        if (now && !listed.has(id)) jobs.push(now);
      }
      this.jobs = jobs;
      this.index = new Map(this.jobs.map((job, i) => [job.id, i]));
    } finally {
      this.reading.delete(changed);
    }
  }

  private apply(event: QueueEvent) {
    if (event.kind === "batch_finished") {
      this.finishedBatches += 1;
      return;
    }
    const id = event.kind === "state" ? event.job.id : event.id;
    for (const changed of this.reading) changed.add(id);
    if (event.kind === "state") {
      const at = this.index.get(event.job.id);
      const moving = event.job.state === "running";
      if (at === undefined) {
        this.index.set(event.job.id, this.jobs.length);
        this.jobs.push({ ...event.job, bytes_per_second: 0, eta_seconds: null });
      } else {
        const job = this.jobs[at];
        Object.assign(job, event.job);
        if (!moving) {
          job.bytes_per_second = 0;
          job.eta_seconds = null;
        }
      }
      return;
    }
    const at = this.index.get(event.id);
    if (at === undefined) return;
    const job = this.jobs[at];
    job.done_bytes = event.done_bytes;
    job.bytes_per_second = event.bytes_per_second;
    job.eta_seconds = event.eta_seconds;
  }
}

export const transfers = new TransferStore();

export type Summary = {
  active: number;
  total: number;
  done: number;
  percent: number;
  speed: number;
  eta: number | null;
  failed: number;
  /** What "Resume all" would resume. */
  paused: number;
};

/** Overall figures for the panel header: what is still moving, and how far along it is. */
export function summarize(jobs: (Job & Partial<Live>)[]): Summary {
  const relevant = jobs.filter((j) => j.state !== "cancelled");
  const active = relevant.filter((j) => j.state === "queued" || j.state === "running" || j.state === "paused");
  const total = relevant.reduce((sum, j) => sum + j.spec.size, 0);
  const done = relevant.reduce((sum, j) => sum + Math.min(j.done_bytes, j.spec.size), 0);
  const speed = relevant.reduce((sum, j) => sum + (j.state === "running" ? (j.bytes_per_second ?? 0) : 0), 0);
  const left = active.reduce((sum, j) => sum + Math.max(0, j.spec.size - j.done_bytes), 0);
  return {
    active: active.length,
    total,
    done,
    percent: total === 0 ? 100 : Math.floor((done / total) * 100),
    speed,
    eta: speed > 0 ? left / speed : null,
    failed: relevant.filter((j) => j.state === "failed").length,
    paused: relevant.filter((j) => j.state === "paused").length,
  };
}

/**
 * The file name a transfer row shows: where the file ended up once it is done ("Keep both"
 * saves `a (1).txt`), else where it is going.
 */
export function transferName(job: Job): string {
  const planned = job.spec.direction === "upload" ? job.spec.remote_path : job.spec.local_path;
  const path = job.state === "done" && job.final_path ? job.final_path : planned;
  return path.split("/").pop() || path;
}

/**
 * Whether the transfer panel takes room on `page`. On Data & Storage, where transfers start,
 * whenever it has rows; on the session pages only while something moves or needs a retry;
 * never on Settings.
 */
export function panelShown(page: Page, summary: Summary, rows: number): boolean {
  if (rows === 0 || page === "settings") return false;
  return page === "storage" || summary.active > 0 || summary.failed > 0;
}

/** `95` → "1 min 35 s"; under a minute in seconds. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
