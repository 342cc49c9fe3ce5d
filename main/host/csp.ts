/**
 * The Content-Security-Policy of the renderer, in both hosts: only the app's own scripts and
 * styles, no inline script, no eval, no network beyond its own origin (the browser host's
 * WebSocket), no plugins, frames or form posts. Inline `style` attributes are refused too; the
 * renderer sets styles through the CSSOM (Svelte's `style:` directives), which CSP allows.
 * renderer/index.html carries the same policy in a meta tag for the Electron app's file:// page.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');
