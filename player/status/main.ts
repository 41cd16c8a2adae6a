// Entry of the /status dashboard: polls /api/status with the page's (admin) token and wires the
// controllers on one bus; tears them down (in reverse order) when the page goes away. A refused
// token stops polling and says why.
import { AccessToken, isAccessStatus } from '../shared/access-token.js';
import { Bus } from '../watch/bus.js';
import { AlertBanner } from './alert-banner.js';
import { ConnectionLine } from './connection-line.js';
import { setText } from './dom.js';
import { StatusDebugState } from './debug-state.js';
import { StatusPoller } from './poller.js';
import { StreamList } from './stream-list.js';
import type { StatusEvents } from './types.js';

const REFRESH_URL = '/api/tokens/refresh';

function required(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!(el instanceof HTMLElement)) throw new Error(`status page is missing #${id}`);
  return el;
}

function start(): () => void {
  // Before anything else: the token leaves the address bar.
  const access = new AccessToken({ href: location.href, history: window.history, refreshUrl: REFRESH_URL, purpose: 'the status dashboard' });
  window.__scopecastAccess = access.debug;
  const root = required('scopecast-dashboard');
  const bus = new Bus<StatusEvents>();
  const debug = new StatusDebugState({ bus, target: window });
  const connectionLine = required('scopecast-connection');
  const connection = new ConnectionLine({ bus, element: connectionLine, root });
  const banner = new AlertBanner({ bus, element: required('scopecast-alerts') });
  const streams = new StreamList({ bus, container: required('scopecast-streams'), empty: required('scopecast-empty') });
  // Same-origin path only: the page's CSP allows nothing else anyway.
  const configured = root.dataset.apiUrl ?? '';
  const apiUrl = /^\/(?!\/)/.test(configured) ? configured : '/api/status';
  const poller = new StatusPoller({ bus, url: apiUrl, headers: () => access.headers() });
  const offs = [
    // A refused poll is the page's access: one verdict, from the access controller.
    bus.on('poll-error', (error) => {
      if (error.fatal && isAccessStatus(error.httpStatus)) access.deny(error);
    }),
    access.on('denied', (denial) => {
      poller.destroy();
      root.dataset.access = 'denied';
      delete root.dataset.stale;
      setText(connectionLine, denial.message);
      connectionLine.dataset.state = 'denied';
    }),
  ];
  access.start();
  if (!access.denial) poller.start();

  return () => {
    for (const off of offs) off();
    poller.destroy();
    streams.destroy();
    banner.destroy();
    connection.destroy();
    debug.destroy();
    access.destroy();
  };
}

const stop = start();
window.addEventListener('pagehide', (event) => {
  // A page kept in the back/forward cache may come back; only a real unload tears down.
  if (!event.persisted) stop();
}, { once: true });
