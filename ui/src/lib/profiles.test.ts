import { describe, expect, it } from "vitest";
import { fieldFor } from "./profiles";

describe("profile form errors", () => {
  it("puts each refusal next to the field to change", () => {
    expect(fieldFor({ code: "auth_failed", message: "refused the email or password" })).toBe("secret");
    expect(fieldFor({ code: "unreachable", message: "Cannot reach http://x/" })).toBe("endpoint");
    expect(fieldFor({ code: "unsupported_server", message: "is not a Backend.AI manager" })).toBe("endpoint");
    expect(fieldFor({ code: "already_exists", message: "A profile named \"a\" exists" })).toBe("name");
    expect(fieldFor({ code: "invalid_input", message: "Profile name \"a b\" must be 1-40 letters" })).toBe("name");
    expect(fieldFor({ code: "invalid_input", message: "Endpoint \"ftp://x\" is not a server address" })).toBe("endpoint");
    expect(fieldFor({ code: "invalid_input", message: "\"bob\" is not an email address." })).toBe("identity");
    expect(fieldFor({ code: "invalid_input", message: "The password is empty." })).toBe("secret");
  });

  it("keeps what no field can fix for the whole form", () => {
    expect(fieldFor({ code: "clock_skew", message: "clock differs" })).toBe("form");
    expect(fieldFor({ code: "internal", message: "bug" })).toBe("form");
  });
});
