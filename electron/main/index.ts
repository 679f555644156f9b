/**
 * Electron main: one window, locked down (contextIsolation, sandbox, no nodeIntegration, served from
 * app:// with a strict CSP, navigation off the app's origin and new windows denied, IPC sender matched
 * exactly), and the core in a utilityProcess wired to the renderer by a MessagePort. If the core
 * process dies, the window stays, is told, and the core is restarted with a fresh port. Training
 * children are utility processes main starts for the core (TrainSpawner): the packaged app's fuses
 * turn RunAsNode off, so the core cannot fork Electron as Node.
 */
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  MessageChannelMain,
  protocol,
  session,
  utilityProcess,
  type IpcMainInvokeEvent,
  type UtilityProcess,
} from 'electron';
import { CHANNEL, type CoreStatus } from '../bridge.js';
import { APP_INDEX_URL, APP_SCHEME, createAppHandler, CSP, isAllowedNavigation, isTrustedSender, originOf } from './appProtocol.js';
import { CoreSupervisor } from './CoreSupervisor.js';
import { TrainSpawner } from './TrainSpawner.js';

// Before ready: app:// is a standard (real origin, relative URLs) and secure scheme.
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

let win: BrowserWindow | null = null;

/** The page: the dev server under `electron-vite dev` (never in a packaged app), else app://. */
function rendererUrl(): string {
  const dev = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;
  return dev ?? APP_INDEX_URL;
}
const rendererOrigin = () => originOf(rendererUrl())!;

/** Only our own renderer (main frame of the main window, exact origin) may call privileged IPC. */
function fromRenderer(e: IpcMainInvokeEvent): boolean {
  const frame = e.senderFrame;
  return isTrustedSender(
    { frameUrl: frame?.url, isMainFrame: !!frame && frame.parent === null, webContentsId: e.sender.id },
    { origin: rendererOrigin(), webContentsId: win && !win.isDestroyed() ? win.webContents.id : null },
  );
}

function sendStatus(s: CoreStatus) {
  win?.webContents.send(CHANNEL.status, s);
}

const training = new TrainSpawner<UtilityProcess>({
  // Main's own entry, beside the CLI bundle (asar-unpacked); the core cannot name another.
  fork: () =>
    utilityProcess.fork(join(__dirname, '../cli/trainProcess.mjs'), [], {
      serviceName: 'Switchyard training',
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env },
    }),
  toCore: (r) => core.current?.postMessage(r),
  killPid: (pid, signal) => process.kill(pid, signal),
});

const core = new CoreSupervisor<UtilityProcess>({
  fork: () => {
    const child = utilityProcess.fork(join(__dirname, 'core.js'), [], {
      serviceName: 'Switchyard core',
      stdio: 'inherit',
      env: { ...process.env },
    });
    child.on('message', (m: unknown) => training.receive(m));
    child.on('exit', () => training.coreGone());
    return child;
  },
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
  const guard = (e: { preventDefault(): void }, url: string) => {
    if (!isAllowedNavigation(url, rendererOrigin())) e.preventDefault();
  };
  win.webContents.on('will-navigate', guard);
  win.webContents.on('will-redirect', guard);
  // Each load (first load, reload) gets a fresh port once the page is ready to receive it.
  win.webContents.on('did-finish-load', () => {
    if (core.current) connectWindow(core.current);
  });
  win.on('closed', () => {
    win = null;
  });
  void win.loadURL(rendererUrl());
}

app.on('web-contents-created', (_e, contents) => {
  contents.on('will-attach-webview', (e) => e.preventDefault());
});

app.whenReady().then(() => {
  protocol.handle(APP_SCHEME, createAppHandler(join(__dirname, '../renderer')));
  // The app:// handler sets the CSP itself; this covers the dev server's responses.
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));

  ipcMain.handle(CHANNEL.openSpaceFile, async (e) => {
    if (!fromRenderer(e) || !win) throw new Error('untrusted sender');
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
    if (!fromRenderer(e) || !win) throw new Error('untrusted sender');
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
  training.coreGone();
  if (process.platform !== 'darwin') app.quit();
});

// Training children checkpoint on 'stop' before they exit: quitting waits for them (at most 30 s).
let quitting = false;
app.on('before-quit', (e) => {
  if (quitting || training.runningCount === 0) return;
  e.preventDefault();
  quitting = true;
  core.stop();
  training.coreGone();
  void Promise.race([training.whenIdle(), new Promise((r) => setTimeout(r, 30_000))]).then(() => app.quit());
});
