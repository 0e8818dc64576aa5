import { describe, expect, it } from "vitest";
import { countdown, countingDown, describeDuration, firstServerEnd, ioRates, serverCheckLabel, durationInput, endsLabel, endsSoon, limitsSummary, parseDuration, pushRing, sparkPoints } from "./vitals";
import { SPARK_POINTS, applyVitals, liveVitals } from "./vitals.svelte";
import type { SessionVitals } from "./bindings";

describe("durations", () => {
  it("reads what the CLI reads and refuses what it refuses, naming the field", () => {
    expect(parseDuration("Lifetime", "45s")).toEqual({ secs: 45, error: null });
    expect(parseDuration("Lifetime", "1h 30m").secs).toBe(5400);
    expect(parseDuration("Lifetime", "2D").secs).toBe(172_800);
    expect(parseDuration("Lifetime", "  ")).toEqual({ secs: null, error: null });
    for (const [text, words] of [
      ["30", "ends in a number without a unit"],
      ["-5m", "is negative"],
      ["5w", "'w', which is not a unit"],
      ["m", "unit without a number"],
      ["0s", "must be longer than zero"],
      ["400d", "longer than a year"],
    ]) {
      const { error } = parseDuration("Lifetime", text);
      expect(error).toContain("Lifetime");
      expect(error).toContain(words);
    }
    expect(parseDuration("Idle timeout", "5s").error).toBe("Idle timeout of 5 s is too short: give at least 10 s.");
  });

  it("writes a limit back as it can be typed again, and says it as the reasons do", () => {
    for (const secs of [45, 1800, 5400, 90_061]) expect(parseDuration("Lifetime", durationInput(secs)).secs).toBe(secs);
    expect(durationInput(null)).toBe("");
    expect(describeDuration(5400)).toBe("1 h 30 min");
    expect(describeDuration(86_405)).toBe("1 d");
    expect(limitsSummary({ idle_timeout_secs: 1800, lifetime_secs: 28_800 })).toBe("ends after 30 min idle · lives 8 h at most");
    expect(limitsSummary({})).toBeNull();
  });
});

describe("countdown", () => {
  it("counts down to the end and says which limit", () => {
    const now = 1_000_000;
    const ends = { kind: "idle" as const, at_ms: now + 9 * 60_000 + 5_000, warn_from_ms: now - 1, limit_secs: 1800 };
    expect(countdown(ends.at_ms, now)).toBe("9:05");
    expect(countdown(now + 3_723_000, now)).toBe("1:02:03");
    expect(countdown(now - 5000, now)).toBe("0:00");
    expect(endsLabel(ends, now)).toBe("Ends in 9:05 (idle)");
    expect(endsLabel({ ...ends, kind: "lifetime", at_ms: now }, now)).toBe("Ending now (lifetime)");
    expect(endsSoon(ends, now)).toBe(true);
    expect(endsSoon({ ...ends, warn_from_ms: now + 1 }, now)).toBe(false);
  });

  it("counts down an idle limit only once the session has been idle a while", () => {
    const now = 10_000_000;
    const idle = (activeAgoMs: number) => ({ kind: "idle" as const, at_ms: now - activeAgoMs + 1_800_000, warn_from_ms: 0, limit_secs: 1800 });
    expect(countingDown(idle(5_000), now)).toBe(false);
    expect(countingDown(idle(60_000), now)).toBe(true);
    expect(countingDown({ ...idle(0), kind: "lifetime" }, now)).toBe(true);
  });
});

describe("sparklines", () => {
  it("puts the newest value at the right edge and the limit at the top", () => {
    expect(sparkPoints([], 60, 20, 60, 100)).toBe("");
    const points = sparkPoints([0, 50, 100], 60, 20, 3, 100).split(" ");
    expect(points).toEqual(["0.0,20.0", "30.0,10.0", "60.0,0.0"]);
    // A value over the scale stretches it rather than leaving the box.
    expect(sparkPoints([200], 60, 20, 60, 100)).toBe("60.0,0.0");
  });

  it("keeps a ring at its capacity", () => {
    const ring: number[] = [];
    for (let i = 0; i < 1000; i++) pushRing(ring, i, 60);
    expect(ring.length).toBe(60);
    expect(ring[0]).toBe(940);
  });
});

describe("live vitals", () => {
  const round = (ids: string[], cpu: number): SessionVitals[] =>
    ids.map((id) => ({ session_id: id, stats: { cpu_percent: cpu, memory_bytes: 1, read_bytes: 0, write_bytes: 0, sampled_at_ms: 0 }, ends: null }));

  it("holds no more than a ring per running session, however long it samples", () => {
    // A simulated day at one round every 5 s, 20 sessions.
    for (let i = 0; i < 17_280; i++) applyVitals(round(Array.from({ length: 20 }, (_, n) => `s${n}`), i % 100));
    expect(Object.keys(liveVitals.byId).length).toBe(20);
    expect(liveVitals.byId.s3.cpu.length).toBe(SPARK_POINTS);
    // Sessions missing from a round have ended: their vitals go.
    applyVitals(round(["s1"], 5));
    expect(Object.keys(liveVitals.byId)).toEqual(["s1"]);
    expect(liveVitals.byId.s1.stats?.cpu_percent).toBe(5);
  });
});

describe("the cluster's checks", () => {
  it("finds the first end and says each check in words", () => {
    const now = 1_000_000;
    const lifetime = { name: "session_lifetime", what: "its lifetime", ends_at_ms: now + 3_540_000, grace_until_ms: null };
    const network = { name: "network_timeout", what: "network activity", ends_at_ms: now + 600_000, grace_until_ms: null };
    const unset = { name: "utilization", what: "how much of its resources it uses", ends_at_ms: null, grace_until_ms: null };
    expect(firstServerEnd([lifetime, network, unset])).toBe(network);
    expect(firstServerEnd([unset])).toBeNull();
    expect(firstServerEnd(undefined)).toBeNull();
    expect(serverCheckLabel(lifetime, now)).toBe("its lifetime: ends in 59:00");
    expect(serverCheckLabel(unset, now)).toBe("how much of its resources it uses: no end set");
    expect(serverCheckLabel({ ...network, ends_at_ms: null, grace_until_ms: now + 90_000 }, now)).toBe("network activity: not checked for 1:30 yet");
  });
});

describe("storage rates", () => {
  it("turns the running totals into bytes per second between samples", () => {
    const at = (ms: number, read: number, write: number) => ({ cpu_percent: 0, memory_bytes: 0, read_bytes: read, write_bytes: write, sampled_at_ms: ms });
    expect(ioRates([at(0, 0, 0), at(5000, 1000, 4000), at(10_000, 1000, 4000), at(15_000, 0, 0)])).toEqual([1000, 0, 0]);
    expect(ioRates([])).toEqual([]);
  });
});
