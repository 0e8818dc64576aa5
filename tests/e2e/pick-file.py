#!/usr/bin/python3
"""Answers a native GTK file dialog the way a user at the keyboard does: waits for the window
titled ARGV[1], gives it the keyboard focus (Xvfb has no window manager to do that), types
ARGV[2] into GTK's location field (Ctrl+L) and presses Enter (then, in a folder chooser, which
opens the folder on Enter, its Open button). Tests need
this because WebDriver reaches only the webview, never the app's native dialogs.

Usage: DISPLAY=:N pick-file.py TITLE PATH   (exit 1 when no such window shows within 15 s)
"""
import sys
import time

from Xlib import X, XK, display
from Xlib.ext import xtest


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


def press(screen, keysym, shift, modifier=None):
    keycode = screen.keysym_to_keycode(keysym)
    held = modifier if modifier is not None else (XK.XK_Shift_L if shift else None)
    held_code = screen.keysym_to_keycode(held) if held is not None else None
    if held_code:
        xtest.fake_input(screen, X.KeyPress, held_code)
    xtest.fake_input(screen, X.KeyPress, keycode)
    xtest.fake_input(screen, X.KeyRelease, keycode)
    if held_code:
        xtest.fake_input(screen, X.KeyRelease, held_code)
    screen.sync()
    time.sleep(0.01)


def keysym_of(char):
    names = {"/": "slash", ".": "period", "-": "minus", "_": "underscore", " ": "space"}
    return XK.string_to_keysym(names.get(char, char))


def main():
    title, path = sys.argv[1], sys.argv[2]
    screen = display.Display()
    deadline = time.time() + 15
    target = None
    while target is None and time.time() < deadline:
        target = find(screen.screen().root, title)
        if target is None:
            time.sleep(0.1)
    if target is None:
        print(f"no window titled {title!r}", file=sys.stderr)
        return 1
    time.sleep(0.5)  # GTK maps the dialog before it is ready for keys
    target.set_input_focus(X.RevertToParent, X.CurrentTime)
    screen.sync()
    time.sleep(0.2)
    # Alt+Home leaves the "Recent" view a folder chooser opens in, where the location field
    # takes no Enter.
    press(screen, XK.XK_Home, False, XK.XK_Alt_L)
    time.sleep(0.5)
    # Ctrl+L opens the location field first: a '/' typed into the file list opens it too, but
    # swallows the keys typed while it appears. Ctrl+A then replaces whatever it holds.
    press(screen, XK.string_to_keysym("l"), False, XK.XK_Control_L)
    time.sleep(0.5)
    press(screen, XK.string_to_keysym("a"), False, XK.XK_Control_L)
    for char in path:
        keysym = keysym_of(char)
        keycode = screen.keysym_to_keycode(keysym)
        # A character is typed with Shift when its keysym sits on the shifted level of its key.
        shift = screen.keycode_to_keysym(keycode, 0) != keysym
        press(screen, keysym, shift)
    time.sleep(0.5)  # the location field completes as it is typed; let it settle
    press(screen, XK.XK_Return, False)
    # A folder chooser takes Enter as "open this folder": its Open button (Alt+O) then
    # chooses the folder it shows. A file chooser is gone after the Enter.
    for _ in range(10):
        time.sleep(0.1)
        if find(screen.screen().root, title) is None:
            return 0
    if find(screen.screen().root, title) is not None:
        target.set_input_focus(X.RevertToParent, X.CurrentTime)
        screen.sync()
        press(screen, XK.string_to_keysym("o"), False, XK.XK_Alt_L)
    return 0


if __name__ == "__main__":
    sys.exit(main())
