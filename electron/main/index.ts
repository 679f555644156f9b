/**
 * Electron main: one window, locked down (contextIsolation, sandbox, no nodeIntegration, strict CSP,
 * navigation and new windows denied, IPC sender checked), and the core in a utilityProcess wired to
 * the renderer by a MessagePort. If the core process dies, the window stays, is told, and the core is
 * restarted with a fresh port.
 */
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  MessageChannelMain,
  session,
  utilityProcess,
  type IpcMainInvokeEvent,
  type UtilityProcess,
} from 'electron';
import { CHANNEL, type CoreStatus } from '../bridge.js';
import { CoreSupervisor } from './CoreSupervisor.js';

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

let win: BrowserWindow | null = null;

function rendererUrl(): { url?: string; file?: string } {
  const dev = process.env.ELECTRON_RENDERER_URL;
  return dev ? { url: dev } : { file: join(__dirname, '../renderer/index.html') };
}

/** Only our own renderer may call privileged IPC. */
function isTrustedSender(e: IpcMainInvokeEvent): boolean {
  const frameUrl = e.senderFrame?.url ?? '';
  const { url, file } = rendererUrl();
  if (url) return frameUrl.startsWith(new URL(url).origin);
  return frameUrl.startsWith('file://') && decodeURIComponent(frameUrl).includes(file!.replace(/\\/g, '/').split('/').slice(-3).join('/'));
}

function sendStatus(s: CoreStatus) {
  win?.webContents.send(CHANNEL.status, s);
}

const core = new CoreSupervisor<UtilityProcess>({
  fork: () =>
    utilityProcess.fork(join(__dirname, 'core.js'), [], {
      serviceName: 'Switchyard core',
      stdio: 'inherit',
      env: { ...process.env },
    }),
  onReady: (child) => connectWindow(child),
  onStatus: sendStatus,
  wanted: () => app.isReady() && !!win && !win.isDestroyed(),
});

/** A fresh channel per (re)connection: port1 to the core, port2 to the renderer's preload. */
function connectWindow(child: UtilityProcess) {
  if (!win || win.isDestroyed()) return;
  const { port1, port2 } = new MessageChannelMain();
  child.postMessage({ type: 'connect' }, [port1]);
  win.webContents.postMessage(CHANNEL.port, null, [port2]);
  sendStatus('ready');
}

function createWindow() {
  win = new BrowserWindow({
    width: 1440,
    height: 920,
    minWidth: 960,
    minHeight: 640,
    title: 'Switchyard',
    show: false,
    backgroundColor: '#101418',
    webPreferences: {
      preload: join(__dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win?.show());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.webContents.on('will-navigate', (e, url) => {
    if (url !== win?.webContents.getURL()) e.preventDefault();
  });
  // Each load (first load, reload) gets a fresh port once the page is ready to receive it.
  win.webContents.on('did-finish-load', () => {
    if (core.current) connectWindow(core.current);
  });
  win.on('closed', () => {
    win = null;
  });
  const { url, file } = rendererUrl();
  if (url) void win.loadURL(url);
  else void win.loadFile(file!);
}

app.on('web-contents-created', (_e, contents) => {
  contents.on('will-attach-webview', (e) => e.preventDefault());
});

app.whenReady().then(() => {
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));

  ipcMain.handle(CHANNEL.openSpaceFile, async (e) => {
    if (!isTrustedSender(e) || !win) throw new Error('untrusted sender');
    const r = await dialog.showOpenDialog(win, {
      title: 'Open search space',
      filters: [{ name: 'Search space', extensions: ['json'] }],
      properties: ['openFile'],
    });
    if (r.canceled || !r.filePaths[0]) return null;
    const path = r.filePaths[0];
    return { path, text: await readFile(path, 'utf8') };
  });
  ipcMain.handle(CHANNEL.saveSpaceFile, async (e, text: unknown, suggestedName: unknown) => {
    if (!isTrustedSender(e) || !win) throw new Error('untrusted sender');
    if (typeof text !== 'string' || typeof suggestedName !== 'string') throw new Error('text and name must be strings');
    const r = await dialog.showSaveDialog(win, {
      title: 'Save search space',
      defaultPath: suggestedName.replace(/[^\w.-]+/g, '_'),
      filters: [{ name: 'Search space', extensions: ['json'] }],
    });
    if (r.canceled || !r.filePath) return null;
    await writeFile(r.filePath, text, 'utf8');
    return r.filePath;
  });

  createWindow();
  core.start();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

app.on('window-all-closed', () => {
  core.stop();
  if (process.platform !== 'darwin') app.quit();
});
