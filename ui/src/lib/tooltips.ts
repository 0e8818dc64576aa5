// Tooltips for every `title` in the window, drawn by the page instead of the toolkit. WebKitGTK
// shows a title as a native tooltip that stays up when the element under the still pointer is
// replaced (a click that opens another page), covering what the new page shows. Here the title
// is taken off the hovered element (so no native tooltip appears), shown after a pause, and
// hidden on any click, key, scroll or wheel, and as soon as its element leaves the page. It is
// put back when the pointer leaves.

/** How long the pointer rests on an element before its tooltip shows, as GTK's default. */
export const TOOLTIP_DELAY_MS = 500;

/** Where a tooltip of `size` goes for an element at `anchor`: below it, else above, inside `view`. */
export function tooltipPlace(
  anchor: { left: number; top: number; width: number; height: number },
  size: { width: number; height: number },
  view: { width: number; height: number },
  gap = 6,
): { left: number; top: number } {
  const margin = 4;
  const centered = anchor.left + anchor.width / 2 - size.width / 2;
  const left = Math.max(margin, Math.min(centered, view.width - size.width - margin));
  const below = anchor.top + anchor.height + gap;
  const top = below + size.height + margin <= view.height ? below : Math.max(margin, anchor.top - gap - size.height);
  return { left, top };
}

/** Starts the tooltips on `doc`; returns what stops them. */
export function installTooltips(doc: Document = document): () => void {
  let anchor: HTMLElement | null = null;
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watch: ReturnType<typeof setInterval> | undefined;
  let tip: HTMLDivElement | null = null;
  // After a click, a key or a scroll, no tooltip until the pointer really moves: the page
  // moving under a resting pointer (End in a long list) is not the user pointing at something.
  let quiet = false;
  let pointer = { x: -1, y: -1 };
  // Svelte may set the title again while the pointer rests (a label that changes): take it again.
  const retitle = new MutationObserver(() => {
    if (anchor?.hasAttribute("title")) {
      text = anchor.getAttribute("title") ?? "";
      anchor.removeAttribute("title");
      if (tip) tip.textContent = text;
    }
  });

  function hide() {
    clearTimeout(timer);
    clearInterval(watch);
    tip?.remove();
    tip = null;
  }

  /** The pointer left `anchor` (or it went away): no tooltip, and its title back. */
  function release() {
    hide();
    retitle.disconnect();
    if (anchor && text !== "" && !anchor.hasAttribute("title")) anchor.setAttribute("title", text);
    anchor = null;
    text = "";
  }

  function show() {
    if (!anchor || !anchor.isConnected || text.trim() === "") return;
    tip = doc.createElement("div");
    tip.className = "tooltip";
    tip.setAttribute("role", "tooltip");
    tip.dataset.testid = "tooltip";
    tip.textContent = text;
    // A modal dialog is drawn above everything else in the page: its tooltips go inside it.
    (anchor.closest("dialog[open]") ?? doc.body).append(tip);
    const box = anchor.getBoundingClientRect();
    const view = doc.documentElement;
    const place = tooltipPlace(box, { width: tip.offsetWidth, height: tip.offsetHeight }, { width: view.clientWidth, height: view.clientHeight });
    tip.style.left = `${place.left}px`;
    tip.style.top = `${place.top}px`;
    // The element may be replaced with no pointer movement at all (a page switch): then go.
    watch = setInterval(() => {
      if (!anchor || !anchor.isConnected || anchor.getClientRects().length === 0) release();
    }, 150);
  }

  function over(event: MouseEvent) {
    const target = event.target instanceof Element ? event.target : null;
    if (!target || (anchor && anchor.contains(target))) return;
    const titled = target.closest<HTMLElement>("[title]");
    release();
    if (!titled) return;
    anchor = titled;
    text = titled.getAttribute("title") ?? "";
    titled.removeAttribute("title");
    retitle.observe(titled, { attributes: true, attributeFilter: ["title"] });
    if (!quiet) timer = setTimeout(show, TOOLTIP_DELAY_MS);
  }

  function move(event: MouseEvent) {
    if (event.clientX === pointer.x && event.clientY === pointer.y) return;
    pointer = { x: event.clientX, y: event.clientY };
    if (!quiet) return;
    quiet = false;
    if (anchor && !tip) timer = setTimeout(show, TOOLTIP_DELAY_MS);
  }

  function out(event: MouseEvent) {
    const to = event.relatedTarget instanceof Node ? event.relatedTarget : null;
    if (anchor && (!to || !anchor.contains(to))) release();
  }

  // A click, a key or a scroll means the user moved on: hide now, and show none until the
  // pointer moves (WebKit replays a mouse move at the same place after the page changes).
  const dismiss = (event: Event) => {
    hide();
    quiet = true;
    if (event instanceof MouseEvent) pointer = { x: event.clientX, y: event.clientY };
  };
  doc.addEventListener("mouseover", over, true);
  doc.addEventListener("mousemove", move, true);
  doc.addEventListener("mouseout", out, true);
  for (const type of ["mousedown", "keydown", "wheel", "scroll"]) doc.addEventListener(type, dismiss, true);
  window.addEventListener("blur", dismiss);
  return () => {
    release();
    doc.removeEventListener("mouseover", over, true);
    doc.removeEventListener("mouseout", out, true);
    doc.removeEventListener("mousemove", move, true);
    for (const type of ["mousedown", "keydown", "wheel", "scroll"]) doc.removeEventListener(type, dismiss, true);
    window.removeEventListener("blur", dismiss);
  };
}
