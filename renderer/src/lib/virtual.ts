/**
 * Windowing for long lists: which rows to render for a scroll position, so that a table of tens
 * of thousands of rows keeps a few dozen elements in the page.
 */
export interface Window {
  start: number;
  end: number; // exclusive
  /** pixels from the top of the list to the first rendered row */
  offset: number;
}

export function visibleWindow(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan = 8): Window {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, offset: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const start = Math.max(0, Math.min(count - 1, first) - overscan);
  const end = Math.min(count, first + Math.ceil(Math.max(0, viewport) / rowHeight) + 1 + overscan);
  return { start, end, offset: start * rowHeight };
}
