import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './components/App.js';
import { connectCore } from './store/coreActions.js';
import { persistState, restoreState } from './store/persistence.js';
import { useWorkbench } from './store/store.js';
import { CoreClient } from './transport/CoreClient.js';
import { createTransport } from './transport/createTransport.js';
import './styles.css';

document.documentElement.dataset.theme = useWorkbench.getState().theme;
// The edited space and the open run survive a reload (local storage + URL).
restoreState(useWorkbench);
persistState(useWorkbench);
const client = new CoreClient(createTransport());
const disconnect = connectCore(client);
// Subscriptions end with the page (electron-trpc: clean up on navigation).
window.addEventListener('pagehide', () => {
  disconnect();
  client.dispose();
  client.transport.close();
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
