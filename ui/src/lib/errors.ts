// What each error code means to the person in front of the screen. The message from Rust says
// what happened; this says what kind of trouble it is and what to try.
import type { BerthError, ErrorCode } from "./bindings";

export type ErrorAdvice = { title: string; hint: string };

export function adviceFor(code: ErrorCode): ErrorAdvice {
  switch (code) {
    case "engine_unavailable":
      return { title: "The engine is unavailable", hint: "Fix what the message names, then reopen Berth." };
    case "invalid_input":
      return { title: "That is not allowed", hint: "Change the highlighted value and try again." };
    case "not_found":
      return { title: "It is gone", hint: "It was removed elsewhere. Refresh to see what is there now." };
    case "already_exists":
      return { title: "That name is taken", hint: "Pick another name." };
    case "permission_denied":
      return { title: "Not allowed here", hint: "The folder or file does not permit this change." };
    case "auth_failed":
      return { title: "Sign-in refused", hint: "Check the email and password, or the access and secret key." };
    case "login_expired":
      return { title: "Your login expired", hint: "Sign in again; the open screens stay as they are." };
    case "clock_skew":
      return { title: "This computer's clock is off", hint: "Set the clock automatically (NTP), then try again." };
    case "unreachable":
      return { title: "The server does not answer", hint: "Check the address and your network, then retry." };
    case "unsupported_server":
      return { title: "Not a server Berth can use", hint: "Check that the address points at a Backend.AI manager or web server." };
    case "file_changed":
      return { title: "The file changed meanwhile", hint: "Overwrite it, reload it, or save your edit as a copy." };
    case "internal":
      return { title: "Something went wrong", hint: "Try again. If it keeps happening, the log file says more." };
    default: {
      const unknown: never = code;
      return { title: "Something went wrong", hint: `Unknown error code ${String(unknown)}.` };
    }
  }
}

export function describe(error: BerthError): ErrorAdvice & { message: string } {
  return { ...adviceFor(error.code), message: error.message };
}
