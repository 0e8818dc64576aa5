// Where the profile form shows an error: next to the field the user must change.
import type { BerthError } from "./bindings";

export type ProfileField = "name" | "endpoint" | "identity" | "secret" | "form";

export function fieldFor(error: BerthError): ProfileField {
  switch (error.code) {
    case "already_exists":
      return "name";
    case "unreachable":
    case "unsupported_server":
      return "endpoint";
    case "auth_failed":
      return "secret";
    case "invalid_input": {
      const message = error.message.toLowerCase();
      if (message.startsWith("profile name")) return "name";
      if (message.startsWith("endpoint")) return "endpoint";
      if (message.includes("password is empty") || message.includes("secret key is empty")) return "secret";
      if (message.includes("email") || message.includes("access key")) return "identity";
      return "form";
    }
    default:
      return "form";
  }
}
