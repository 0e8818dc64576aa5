// Long lists draw only the rows on screen (and a few around them), with space standing in for
// the rest: with 200 sessions the Sessions page drew and laid out 200 rows to show 12, and
// took twice its 100 ms budget. Rows must be of one fixed height for this.

/** Lists this long or shorter are drawn whole: nothing to gain, and tests find every row. */
export const WINDOW_FROM = 60;
/** Rows drawn beyond each edge of the screen, so a quick scroll shows no gap. */
const OVERSCAN = 8;

export type RowWindow = { start: number; end: number; before: number; after: number };

/**
 * Which of `count` rows of `rowHeight` px to draw when the list's first row is `offset` px
 * from the top of a `viewport` px tall view (negative: scrolled past). `before` and `after`
 * are the heights standing in for the rows left out.
 */
export function rowWindow(count: number, rowHeight: number, offset: number, viewport: number): RowWindow {
  if (count <= WINDOW_FROM || rowHeight <= 0) return { start: 0, end: count, before: 0, after: 0 };
  const first = Math.floor(-offset / rowHeight);
  const start = Math.min(count, Math.max(0, first - OVERSCAN));
  const end = Math.min(count, Math.max(start, first + Math.ceil(viewport / rowHeight) + OVERSCAN));
  return { start, end, before: start * rowHeight, after: (count - end) * rowHeight };
}
