// One way for every screen to call the engine: a command's result becomes a `Loaded` value the
// page renders, and a failure of the IPC itself is shown like any other `{code, message}`.
import type { BerthError, Result } from "./bindings";

export type Loaded<T> =
  | { state: "loading" }
  | { state: "ready"; data: T }
  | { state: "failed"; error: BerthError };

export async function load<T>(call: () => Promise<Result<T, BerthError>>): Promise<Loaded<T>> {
  try {
    const result = await call();
    return result.status === "ok"
      ? { state: "ready", data: result.data }
      : { state: "failed", error: result.error };
  } catch (thrown) {
    // The generated bindings rethrow JS errors (the IPC bridge itself failed): say so plainly.
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    return { state: "failed", error: { code: "internal", message: `Berth's engine did not answer: ${message}` } };
  }
}
