// LotZero's web UI: plain JavaScript modules, no build step. It speaks the
// same protocol as bots (protocol/README.md) over /ws and /api. This module
// starts the session and routes between the pages.
import { $, el, money, S, login, connect, listen, notice, clearNotice, say, titles, onFrame, applyEvent, relogin } from './core.js';
import { lobbyView } from './lobby.js';
import { lotView } from './room.js';
import { activityView } from './activity.js';
import { hostView } from './host.js';
import { walletView } from './wallet.js';
import { proofView } from './proof.js';

export { money };

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'auctioneer'];
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-southeast-1', 'sa-east-1'];

let cleanup = () => {};
let routing = 0;
async function route() {
  const my = ++routing;
  cleanup(); cleanup = () => {};
  clearNotice(); // a notice belongs to the page it was said on
  const view = $('#view');
  const [, page, id] = location.hash.split('/');
  for (const a of document.querySelectorAll('nav.main a')) {
    if (a.dataset.page === (page || '')) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  view.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  try {
    let done;
    if (page === 'lot' && id) done = await lotView(view, id);
    else if (page === 'me') done = await activityView(view);
    else if (page === 'host') done = await hostView(view);
    else if (page === 'wallet') done = await walletView(view);
    else if (page === 'proof') done = proofView(view);
    else done = await lobbyView(view);
    if (my === routing) cleanup = done; else done();
    const h1 = view.querySelector('h1');
    document.title = h1 ? `${h1.textContent} · LotZero` : 'LotZero';
    // A screen reader or keyboard user lands at the new page's start.
    if (route.moved && my === routing) view.focus({ preventScroll: true });
    route.moved = true;
  } catch (e) {
    if (e?.status === 404 || e?.code === 'not_found') view.replaceChildren(el('h1', {}, 'Not found'), el('p', {}, 'That page or lot does not exist. ', el('a', { href: '#/' }, 'Back to the lobby')));
    else say(e);
  }
}

// Outbid on a lot whose room is not on screen: say so, with the way back.
listen((f) => {
  if (f.type !== 'outbid' || location.hash === `#/lot/${f.lot}`) return;
  notice(`You were outbid on ${titles.get(f.lot) || 'a lot'}: the high bid is now ${money(f.amount)}.`, false,
    el('a', { href: `#/lot/${f.lot}`, class: 'notice-action' }, 'Bid again'));
});

function pickers() {
  const user = $('#user'); const region = $('#region');
  user.replaceChildren(...USERS.map((u) => el('option', { value: u, selected: u === S.user }, u === 'auctioneer' ? 'auctioneer (host)' : u)));
  region.replaceChildren(...REGIONS.map((r) => el('option', { value: r, selected: r === S.region }, r)));
  if (!USERS.includes(S.user)) user.prepend(el('option', { value: S.user, selected: true }, S.user));
  const change = async () => {
    S.user = user.value; S.region = region.value;
    localStorage.setItem('lz-user', S.user); localStorage.setItem('lz-region', S.region);
    S.wallet = null;
    await relogin().catch(say);
    route();
  };
  user.onchange = change; region.onchange = change;
  if (S.givenToken) { user.disabled = true; }
}

// For bots and the tests: hand the page a frame as if the server sent it.
window.lotzero = { frame: onFrame, event: applyEvent };

async function start() {
  pickers();
  $('.skip').onclick = (e) => { e.preventDefault(); $('#view').focus(); };
  await login();
  connect();
  await new Promise((resolve) => { const off = listen((f) => { if (f.type === 'wallet') { off(); resolve(); } }); });
  addEventListener('hashchange', route);
  route();
}
start().catch(say);
