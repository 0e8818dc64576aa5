// The transfer panel's live view of the queue: the job list read once, then kept current from
// the queue's event channel (progress, state changes, finished batches).
import { Channel } from "@tauri-apps/api/core";
import { commands, type Job, type QueueEvent } from "./bindings";

export type Live = Job & { bytes_per_second: number; eta_seconds: number | null };

class TransferStore {
  jobs = $state<Live[]>([]);
  /** Bumped when a batch finishes, so open explorers can refresh. */
  finishedBatches = $state(0);
  private started = false;
  private index = new Map<number, number>();
  /** Events that arrive before the first list; applied on top of it, in order. */
  private early: QueueEvent[] | null = [];
  private reloads = 0;
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
    this.early = [];
    await this.watch();
  }

  private async watch() {
    const generation = ++this.watching;
    const channel = new Channel<QueueEvent>();
    channel.onmessage = (event) => {
      if (generation !== this.watching) return;
      if (this.early) this.early.push(event);
      else this.apply(event);
    };
    await commands.watchTransfers(channel);
    await this.reload();
    const early = this.early ?? [];
    this.early = null;
    for (const event of early) this.apply(event);
  }

  /** Reads the whole list again (after clearing finished jobs, which sends no events). */
  async reload() {
    const seq = ++this.reloads;
    const result = await commands.listTransfers();
    if (result.status !== "ok" || seq !== this.reloads) return;
    const previous = new Map(this.jobs.map((j) => [j.id, j]));
    this.jobs = result.data.map((job) => ({
      ...job,
      bytes_per_second: previous.get(job.id)?.bytes_per_second ?? 0,
      eta_seconds: previous.get(job.id)?.eta_seconds ?? null,
    }));
    this.index = new Map(this.jobs.map((job, i) => [job.id, i]));
  }

  private apply(event: QueueEvent) {
    if (event.kind === "batch_finished") {
      this.finishedBatches += 1;
      return;
    }
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

export type Summary = { active: number; total: number; done: number; percent: number; speed: number; eta: number | null; failed: number };

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
  };
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
