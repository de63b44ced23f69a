// The admin page's entry point: sign-in (the token is kept in sessionStorage, for this tab
// only), the four views behind the #hash, and the live poll that feeds them.

import { get, token, whenUnauthorized } from './api.js';
import { createChain } from './chain.js';
import { h, replace } from './dom.js';
import { createFilters } from './filters.js';
import { Live } from './live.js';
import { createOverview } from './overview.js';
import { createServices } from './services.js';

const VIEWS = { overview: createOverview, chain: createChain, filters: createFilters, services: createServices };

const byId = (id) => document.getElementById(id);
const live = new Live();
let views;
let shown;

function toast(message, isError = false) {
  const box = byId('toast');
  box.textContent = message;
  box.classList.toggle('error', isError);
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 5000);
}

function viewName() {
  const name = location.hash.slice(1);
  return Object.hasOwn(VIEWS, name) ? name : 'overview';
}

async function showView() {
  if (views === undefined) return;
  const name = viewName();
  shown?.hide();
  shown = views[name];
  for (const link of byId('nav').querySelectorAll('a')) link.classList.toggle('active', link.dataset.view === name);
  const container = byId('view');
  replace(container, shown.element);
  try {
    await shown.show();
  } catch (error) {
    container.prepend(h('div', { class: 'error box', role: 'alert' }, `${name}: ${error.message}`));
  }
}

function signedOut(message) {
  live.stop();
  shown?.hide();
  views = undefined;
  shown = undefined;
  byId('nav').hidden = true;
  byId('sign-out').hidden = true;
  replace(byId('who'));
  replace(byId('view'));
  byId('sign-in').hidden = false;
  byId('sign-in-error').textContent = message ?? '';
  byId('token').focus();
}

/** Asks who the token belongs to; a read token gets the page without edit controls. */
async function signIn() {
  let session;
  try {
    session = await get('/whoami');
  } catch (error) {
    if (error.status === 401) return signedOut(token.get() === undefined ? '' : `not accepted: ${error.message}`);
    return signedOut(error.message);
  }
  const canWrite = session.role === 'write';
  const context = { live, canWrite, toast, go: (name) => (location.hash = name) };
  views = Object.fromEntries(Object.entries(VIEWS).map(([name, create]) => [name, create(context)]));
  byId('sign-in').hidden = true;
  byId('nav').hidden = false;
  byId('sign-out').hidden = !session.auth_required;
  document.body.classList.toggle('read-only', !canWrite);
  replace(byId('who'), session.auth_required ? `${session.token} · ${canWrite ? 'read-write' : 'read-only'}` : 'no admin token configured');
  live.start();
  await showView();
}

whenUnauthorized(() => {
  if (views !== undefined) signedOut('the token is no longer accepted; sign in again');
});

byId('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  token.set(byId('token').value.trim());
  byId('token').value = '';
  signIn();
});

byId('sign-out').addEventListener('click', () => {
  token.clear();
  signedOut();
});

addEventListener('hashchange', () => showView());
signIn();
