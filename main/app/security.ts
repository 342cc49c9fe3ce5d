/**
 * Locks a session and its windows down (Electron's security checklist): the page may not navigate,
 * open windows, ask for permissions, or reach the network. It runs only the app's own files.
 */
import { type Session, type WebContents } from 'electron';
import { CONTENT_SECURITY_POLICY } from '../host/csp.ts';

export function secureSession(ses: Session): void {
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  // Nothing is loaded from the network: only file: (the app) and devtools' own schemes pass.
  ses.webRequest.onBeforeRequest((details, callback) => {
    const scheme = new URL(details.url).protocol;
    callback({ cancel: !['file:', 'devtools:', 'data:', 'blob:'].includes(scheme) });
  });
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
}

export function secureContents(wc: WebContents, appUrl: string): void {
  wc.on('will-navigate', (e, url) => {
    if (url !== appUrl) e.preventDefault();
  });
  wc.on('will-redirect', (e) => e.preventDefault());
  wc.on('will-attach-webview', (e) => e.preventDefault());
  wc.setWindowOpenHandler(() => ({ action: 'deny' }));
}
