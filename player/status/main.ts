// Entry of the /status dashboard: polls /api/status and wires the controllers on one bus; tears
// them down (in reverse order) when the page goes away.
import { Bus } from '../watch/bus.js';
import { AlertBanner } from './alert-banner.js';
import { ConnectionLine } from './connection-line.js';
import { StatusDebugState } from './debug-state.js';
import { StatusPoller } from './poller.js';
import { StreamList } from './stream-list.js';
import type { StatusEvents } from './types.js';

function required(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!(el instanceof HTMLElement)) throw new Error(`status page is missing #${id}`);
  return el;
}

function start(): () => void {
  const root = required('scopecast-dashboard');
  const bus = new Bus<StatusEvents>();
  const debug = new StatusDebugState({ bus, target: window });
  const connection = new ConnectionLine({ bus, element: required('scopecast-connection'), root });
  const banner = new AlertBanner({ bus, element: required('scopecast-alerts') });
  const streams = new StreamList({ bus, container: required('scopecast-streams'), empty: required('scopecast-empty') });
  // Same-origin path only: the page's CSP allows nothing else anyway.
  const configured = root.dataset.apiUrl ?? '';
  const apiUrl = /^\/(?!\/)/.test(configured) ? configured : '/api/status';
  const poller = new StatusPoller({ bus, url: apiUrl });
  poller.start();

  return () => {
    poller.destroy();
    streams.destroy();
    banner.destroy();
    connection.destroy();
    debug.destroy();
  };
}

const stop = start();
window.addEventListener('pagehide', (event) => {
  // A page kept in the back/forward cache may come back; only a real unload tears down.
  if (!event.persisted) stop();
}, { once: true });
