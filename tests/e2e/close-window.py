#!/usr/bin/python3
"""Asks the X window titled ARGV[1] to close, as a window manager's close button does: a
WM_DELETE_WINDOW client message. Tests need this because WebDriver's "close window" destroys
the webview directly and never reaches the app's close-requested handler.

Usage: DISPLAY=:N close-window.py TITLE           (exit 1 when no such window exists)
       DISPLAY=:N close-window.py --exists TITLE  (only tell, by exit code, whether it exists)
       DISPLAY=:N close-window.py --mapped TITLE  (whether it exists and is shown, not hidden)
"""
import sys

from Xlib import X, display, protocol


def find(window, title):
    try:
        if window.get_wm_name() == title:
            return window
    except Exception:  # windows may vanish while we walk the tree
        return None
    for child in window.query_tree().children:
        found = find(child, title)
        if found is not None:
            return found
    return None


def main():
    only_check = sys.argv[1] == "--exists"
    mapped = sys.argv[1] == "--mapped"
    title = sys.argv[-1]
    screen = display.Display()
    target = find(screen.screen().root, title)
    if target is None:
        print(f"no window titled {title!r}", file=sys.stderr)
        return 1
    if only_check:
        return 0
    if mapped:
        # A hidden (withdrawn) window keeps its title; only a mapped one is on screen. GTK
        # titles an inner window too, so look up from the titled one to the top level.
        window = target
        while True:
            if window.get_attributes().map_state != X.IsViewable:
                return 1
            parent = window.query_tree().parent
            if parent is None or parent == screen.screen().root:
                return 0
            window = parent
    protocols = screen.intern_atom("WM_PROTOCOLS")
    delete = screen.intern_atom("WM_DELETE_WINDOW")
    event = protocol.event.ClientMessage(
        window=target, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
    )
    target.send_event(event, event_mask=X.NoEventMask)
    screen.sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
