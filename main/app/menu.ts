/** The application menu. Items that act on the workbench send `menu:command` to the renderer. */
import { Menu, type MenuItemConstructorOptions } from 'electron';
import { basename } from 'node:path';
import type { MenuCommand } from '../../shared/contract.ts';

export interface MenuActions {
  command(c: MenuCommand): void;
  openRecent(path: string): void;
  about(): void;
  recent: readonly string[];
}

export function buildMenu(a: MenuActions): Menu {
  const isMac = process.platform === 'darwin';
  const cmd = (label: string, c: MenuCommand, accelerator?: string): MenuItemConstructorOptions => ({ label, accelerator, click: () => a.command(c) });
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: '&File',
      submenu: [
        cmd('New Project', 'new', 'CmdOrCtrl+N'),
        cmd('Open Project…', 'open', 'CmdOrCtrl+O'),
        {
          label: 'Open Recent',
          submenu: a.recent.length ? a.recent.map((p) => ({ label: basename(p), sublabel: p, click: () => a.openRecent(p) })) : [{ label: 'No recent projects', enabled: false }],
        },
        { type: 'separator' },
        cmd('Save', 'save', 'CmdOrCtrl+S'),
        cmd('Save As…', 'saveAs', 'CmdOrCtrl+Shift+S'),
        { type: 'separator' },
        cmd('Export CSV…', 'exportCsv', 'CmdOrCtrl+E'),
        { type: 'separator' },
        isMac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    { label: '&Model', submenu: [cmd('Open Folder…', 'openModelFolder', 'CmdOrCtrl+Shift+O')] },
    { label: '&View', submenu: [cmd('Toggle Dark Theme', 'toggleTheme', 'CmdOrCtrl+Shift+D'), { type: 'separator' }, { role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }, { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, { type: 'separator' }, { role: 'togglefullscreen' }] },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ label: 'About Patchbench', click: () => a.about() }] },
  ];
  return Menu.buildFromTemplate(template);
}
