/**
 * Sandboxed preload: holds the MessagePort to the core and exposes a minimal, intent-named surface
 * (`window.switchyardHost`). Messages sent before the port arrives are queued (CoreConnection); those
 * still queued when the core goes down are dropped with the calls the page is told failed. Every
 * subscription returns its unsubscriber.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { CHANNEL, type CoreStatus, type SwitchyardHostBridge } from '../bridge.js';
import { CoreConnection } from './CoreConnection.js';

const core = new CoreConnection();

ipcRenderer.on(CHANNEL.port, (event) => {
  const next = event.ports[0];
  if (next) core.attach(next);
});

ipcRenderer.on(CHANNEL.status, (_e, status: CoreStatus) => core.status(status));

const bridge: SwitchyardHostBridge = {
  platform: 'electron',
  send: (msg) => core.send(msg),
  onMessage(fn) {
    core.messageListeners.add(fn);
    return () => core.messageListeners.delete(fn);
  },
  onStatus(fn) {
    core.statusListeners.add(fn);
    return () => core.statusListeners.delete(fn);
  },
  openSpaceFile: () => ipcRenderer.invoke(CHANNEL.openSpaceFile),
  saveSpaceFile: (text, suggestedName) => {
    if (typeof text !== 'string' || typeof suggestedName !== 'string') return Promise.reject(new Error('text and name must be strings'));
    return ipcRenderer.invoke(CHANNEL.saveSpaceFile, text, suggestedName);
  },
};

contextBridge.exposeInMainWorld('switchyardHost', bridge);
