import { describe as group, expect, it } from "vitest";
import { adviceFor, describe } from "./errors";
import type { ErrorCode } from "./bindings";

// Mirrors ErrorCode::ALL in berth-core; the type annotation fails svelte-check when a code is
// added in Rust and the bindings regenerated without advice here.
const ALL: ErrorCode[] = [
  "engine_unavailable",
  "invalid_input",
  "not_found",
  "already_exists",
  "permission_denied",
  "auth_failed",
  "login_expired",
  "clock_skew",
  "unreachable",
  "unsupported_server",
  "file_changed",
  "internal",
];

group("error advice", () => {
  it("gives every code its own title and a hint", () => {
    const titles = ALL.map((code) => adviceFor(code).title);
    expect(new Set(titles).size).toBe(ALL.length);
    for (const code of ALL) expect(adviceFor(code).hint.length).toBeGreaterThan(10);
  });

  it("keeps the engine's message word for word", () => {
    const shown = describe({ code: "engine_unavailable", message: "Cannot create /x: Permission denied" });
    expect(shown.message).toBe("Cannot create /x: Permission denied");
    expect(shown.title).toBe("The engine is unavailable");
  });
});
