/**
 * Window sizes the layout is held to (test/ui/layout.test.ts). Down to MIN_WINDOW nothing is wider
 * than the window, and the desktop window cannot be made smaller (its content area, as the browser
 * host's viewport); from a 1280×720 laptop screen up the ranking table also shows at least
 * TABLE_MIN_ROWS rows.
 */
// 600 lines: a 1280×720 screen's maximised window keeps about that below its title and menu bars.
export const MIN_WINDOW = { width: 1024, height: 600 } as const;

/** Common screens: a maximised window on a small laptop, a 768-line one, a 900-line one, full HD. */
export const SCREEN_SIZES = [
  { width: 1280, height: 720 },
  { width: 1366, height: 768 },
  { width: 1440, height: 900 },
  { width: 1920, height: 1080 },
] as const;

export const TABLE_MIN_ROWS = 8;
