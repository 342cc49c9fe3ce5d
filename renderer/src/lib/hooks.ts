/**
 * Questions the views answer for end-to-end tests and the devtools console (window.patchbench_views),
 * e.g. where a scatter point is drawn, so a test can click it as a person would.
 */
export const viewHooks: Record<string, (...args: never[]) => unknown> = {};
