/**
 * The Electron main process, kept thin: a secure window, the menu, native dialogs, and IPC that
 * forwards each contract channel to the shared Host (main/host/host.ts), which validates requests
 * and runs the engine in a worker thread.
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, screen, session, type IpcMainInvokeEvent } from 'electron';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHANNEL_NAMES, EVENT_NAMES, type MenuCommand } from '../../shared/contract.ts';
import { MIN_WINDOW } from '../../shared/window-size.ts';
import { Host } from '../host/host.ts';
import { nativeDialogs } from './dialogs.ts';
import { buildMenu } from './menu.ts';
import { secureContents, secureSession } from './security.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const RENDERER = here('../renderer/index.html');
const APP_URL = pathToFileURL(RENDERER).href;
const PRELOAD = here('./preload.cjs');
const ICON = here('../../resources/icons/icon.png');

// In the packaged app the demo model and the examples are extra resources beside app.asar.
if (app.isPackaged) {
  process.env.PATCHBENCH_DEMO_MODEL ??= join(process.resourcesPath, 'models', 'demo');
  process.env.PATCHBENCH_EXAMPLES ??= join(process.resourcesPath, 'examples');
}

/** A project file the app was asked to open (a double-click, or a command-line argument): the page opens it first. */
const argvProject = process.argv.slice(1).find((a) => a.toLowerCase().endsWith('.patchbench'));
app.on('open-file', (e, path) => {
  e.preventDefault();
  if (win && !win.webContents.isLoading()) send('menu:command', { command: 'open', path });
  else host.projects.startupFile = path;
});

let win: BrowserWindow | undefined;
/** the renderer's word on unsaved changes (window:state) */
let dirty = false;
/** set once the renderer has asked about unsaved changes, so the next close goes through */
let closing = false;
const host = new Host({
  kind: 'electron',
  versions: { electron: process.versions.electron, chrome: process.versions.chrome },
  dialogs: nativeDialogs(() => win),
  window: {
    setState({ title, dirty: d }) {
      dirty = d;
      if (win && !win.isDestroyed()) {
        win.setTitle(title);
        win.setDocumentEdited(d); // the macOS close button's dot
      }
    },
    close() {
      closing = true;
      win?.close();
    },
  },
});
host.projects.onRecentChange = () => refreshMenu();
if (argvProject) host.projects.startupFile = argvProject;

function send(channel: string, payload: unknown) {
  if (win && !win.isDestroyed()) win.webContents.send(channel, payload);
}

function refreshMenu() {
  Menu.setApplicationMenu(
    buildMenu({
      recent: host.projects.recent(),
      command: (command: MenuCommand) => send('menu:command', { command }),
      // The renderer asks about unsaved changes, then opens the project through the host.
      openRecent: (path) => send('menu:command', { command: 'open', path }),
      about: () => {
        const v = process.versions;
        void dialog.showMessageBox({
          type: 'info',
          title: 'About Patchbench',
          message: `Patchbench ${app.getVersion()}`,
          detail: [
            'Activation and attribution patching for GPT-2-family transformers.',
            '',
            `Compute backend: ${host.engine.status.backend ?? 'starting…'}`,
            `Electron ${v.electron} · Chromium ${v.chrome} · Node ${v.node} · V8 ${v.v8}`,
            `${process.platform} ${process.arch}`,
          ].join('\n'),
        });
      },
    }),
  );
}

/** Only our own page may call: a frame that navigated elsewhere (it cannot, but still) is refused. */
function trusted(e: IpcMainInvokeEvent): boolean {
  return e.senderFrame?.url === APP_URL;
}

function createWindow() {
  // 1440×900 where the screen has room; on a small screen its work area, less ~80 px for the frame and menu.
  const area = screen.getPrimaryDisplay().workAreaSize;
  win = new BrowserWindow({
    width: Math.max(MIN_WINDOW.width, Math.min(1440, area.width)),
    height: Math.max(MIN_WINDOW.height, Math.min(900, area.height - 80)),
    // Content sizes, as the browser host's viewport: the layout is tested down to MIN_WINDOW.
    useContentSize: true,
    minWidth: MIN_WINDOW.width,
    minHeight: MIN_WINDOW.height,
    title: 'Patchbench',
    icon: ICON,
    show: false,
    backgroundColor: '#f6f7f9',
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  });
  secureContents(win.webContents, APP_URL);
  win.once('ready-to-show', () => win?.show());

  // Unsaved changes: the renderer asks (Save / Don't save / Cancel) and calls window:close.
  win.on('close', (e) => {
    if (closing || !dirty || win?.webContents.isCrashed()) return;
    e.preventDefault();
    send('menu:command', { command: 'close' });
  });
  win.on('closed', () => (win = undefined));
  void win.loadFile(RENDERER);
}

app.enableSandbox();
app.on('web-contents-created', (_e, wc) => secureContents(wc, APP_URL));

app.whenReady().then(async () => {
  secureSession(session.defaultSession);
  for (const channel of CHANNEL_NAMES) {
    ipcMain.handle(channel, (e, request: unknown) => {
      if (!trusted(e)) return { ok: false, error: { code: 'bad-request', message: 'request from an untrusted page' } };
      return host.invoke(channel, request);
    });
  }
  for (const event of EVENT_NAMES) host.on(event, (payload: unknown) => send(event, payload));
  refreshMenu();
  createWindow();
  host.start().catch((e: Error) => dialog.showErrorBox('The engine could not start', e.message));
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
app.on('will-quit', () => void host.stop());
