/**
 * Sandboxed preload: holds the MessagePort to the core and exposes a minimal, intent-named surface
 * (`window.switchyardHost`). Messages sent before the port arrives (or while the core restarts) are
 * queued, not lost. Every subscription returns its unsubscriber.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { CHANNEL, type CoreStatus, type SwitchyardHostBridge } from '../bridge.js';
import type { ClientMessage, HostMessage } from '../../core/protocol/protocol.js';

let port: MessagePort | null = null;
const queue: ClientMessage[] = [];
const messageListeners = new Set<(m: HostMessage) => void>();
const statusListeners = new Set<(s: CoreStatus) => void>();

ipcRenderer.on(CHANNEL.port, (event) => {
  const next = event.ports[0];
  if (!next) return;
  port?.close();
  port = next;
  port.onmessage = (e: MessageEvent) => {
    for (const fn of messageListeners) fn(e.data as HostMessage);
  };
  port.start();
  for (const m of queue.splice(0)) port.postMessage(m);
});

ipcRenderer.on(CHANNEL.status, (_e, status: CoreStatus) => {
  if (status !== 'ready') port = null;
  for (const fn of statusListeners) fn(status);
});

const bridge: SwitchyardHostBridge = {
  platform: 'electron',
  send(msg) {
    if (port) port.postMessage(msg);
    else queue.push(msg);
  },
  onMessage(fn) {
    messageListeners.add(fn);
    return () => messageListeners.delete(fn);
  },
  onStatus(fn) {
    statusListeners.add(fn);
    return () => statusListeners.delete(fn);
  },
  openSpaceFile: () => ipcRenderer.invoke(CHANNEL.openSpaceFile),
  saveSpaceFile: (text, suggestedName) => {
    if (typeof text !== 'string' || typeof suggestedName !== 'string') return Promise.reject(new Error('text and name must be strings'));
    return ipcRenderer.invoke(CHANNEL.saveSpaceFile, text, suggestedName);
  },
};

contextBridge.exposeInMainWorld('switchyardHost', bridge);
