#!/usr/bin/python3
"""Drops files onto a window the way a file manager does, over the X drag-and-drop protocol
(XDND): a source window offers `text/uri-list`, enters the window titled ARGV[1] at its middle,
drops, and hands over the file URIs when the window asks for them. Tests need this because
WebDriver cannot make the OS-level drop event Tauri turns into real paths.

Usage: DISPLAY=:N drop-files.py TITLE PATH...   (exit 1 when the window never takes the drop)
"""
import sys
import time
from urllib.parse import quote

from Xlib import X, display
from Xlib.protocol import event


def find(window, title):
    try:
        if window.get_wm_name() == title and window.get_attributes().map_state == X.IsViewable:
            return window
    except Exception:  # windows may vanish while we walk the tree
        return None
    for child in window.query_tree().children:
        found = find(child, title)
        if found is not None:
            return found
    return None


def aware(screen, window, atom):
    """The window (or an ancestor, up to the root) that says it takes XDND drops."""
    root = screen.screen().root
    while window is not None and window.id != root.id:
        if window.get_full_property(atom("XdndAware"), X.AnyPropertyType) is not None:
            return window
        window = window.query_tree().parent
    return None


def main():
    title, paths = sys.argv[1], sys.argv[2:]
    screen = display.Display()
    atom = lambda name: screen.intern_atom(name)  # noqa: E731
    root = screen.screen().root
    deadline = time.time() + 15
    target = None
    while target is None and time.time() < deadline:
        found = find(root, title)
        target = aware(screen, found, atom) if found is not None else None
        if target is None:
            time.sleep(0.1)
    if target is None:
        print(f"no window titled {title!r} takes drops", file=sys.stderr)
        return 1

    source = root.create_window(0, 0, 1, 1, 0, X.CopyFromParent, event_mask=X.PropertyChangeMask)
    source.map()
    screen.sync()
    uri_list = atom("text/uri-list")
    selection = atom("XdndSelection")
    source.set_selection_owner(selection, X.CurrentTime)
    uris = "".join(f"file://{quote(p)}\r\n" for p in paths).encode()

    def send(kind, data):
        message = event.ClientMessage(window=target, client_type=atom(kind), data=(32, data + [0] * (5 - len(data))))
        target.send_event(message, event_mask=0)
        screen.flush()

    geometry = target.get_geometry()
    origin = target.translate_coords(root, 0, 0)
    x, y = -origin.x + geometry.width // 2, -origin.y + geometry.height // 2
    send("XdndEnter", [source.id, 5 << 24, uri_list, 0, 0])
    send("XdndPosition", [source.id, 0, (x << 16) | y, X.CurrentTime, atom("XdndActionCopy")])

    dropped = False
    deadline = time.time() + 15
    while time.time() < deadline:
        if not screen.pending_events():
            time.sleep(0.02)
            continue
        ev = screen.next_event()
        if ev.type == X.ClientMessage and ev.client_type == atom("XdndStatus"):
            if not dropped:
                accepted = ev.data[1][1] & 1
                if not accepted:
                    print("the window refused the drop", file=sys.stderr)
                    send("XdndLeave", [source.id])
                    return 1
                send("XdndDrop", [source.id, 0, X.CurrentTime])
                dropped = True
        elif ev.type == X.SelectionRequest:
            requestor = ev.requestor
            prop = ev.property if ev.property != X.NONE else ev.target
            if ev.target == uri_list:
                requestor.change_property(prop, uri_list, 8, uris)
            else:
                prop = X.NONE
            notify = event.SelectionNotify(
                time=ev.time, requestor=requestor.id, selection=ev.selection, target=ev.target, property=prop
            )
            requestor.send_event(notify)
            screen.flush()
        elif ev.type == X.ClientMessage and ev.client_type == atom("XdndFinished"):
            return 0
    print("the drop was not finished", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
