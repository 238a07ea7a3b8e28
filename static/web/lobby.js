// The lobby: live lots first as cards (price, time or units left,
// watchers, Region mix, "ending soon" and "just opened"), lots opening
// soon, a short list of the recently closed, and the live leaderboard and
// activity feed across all lots.
import { el, money, plural, duration, soonIn, secondsTo, api, request, listen, say, titles, S } from './core.js';
import { boardPanel } from './board.js';
import { eventItem, lotLink, KIND } from './words.js';

const ENDING_SOON_S = 5 * 60;
const JUST_OPENED_S = 3 * 60;
const FILTERS = [['all', 'All lots'], ['english', 'English auctions'], ['dutch', 'Dutch auctions'], ['drop', 'Drops']];

// The lot's headline number and what it means.
function headline(l) {
  if (l.kind === 'english') return [money(l.high_bid || l.start_price), l.high_bid ? `high bid · ${plural(l.bid_count, 'bid')}` : 'opening bid · no bids yet'];
  if (l.kind === 'dutch') return [money(l.price), `now · floor ${money(l.floor_price)}`];
  return [money(l.price), l.per_user_limit ? `each · limit ${l.per_user_limit} per person` : 'each'];
}

const left = (l) => l.qty_total - l.qty_claimed;
function badges(l) {
  const out = [];
  const s = secondsTo(l.ends_at);
  if (l.status === 'open' && l.kind === 'english' && s < ENDING_SOON_S) out.push(['hot', 'Ending soon']);
  if (l.status === 'open' && l.kind !== 'english' && l.qty_claimed > 0 && left(l) > 0 && left(l) <= Math.max(1, l.qty_total / 5)) out.push(['hot', 'Almost gone']);
  if (l.status === 'open' && -secondsTo(l.opened_at) < JUST_OPENED_S) out.push(['new', 'Just opened']);
  return out;
}
// timeLeft orders the urgent: English lots by their end, then the rest.
const timeLeft = (l) => (l.kind === 'english' ? secondsTo(l.ends_at) : 1e9);
const urgent = (l) => badges(l).some(([c]) => c === 'hot');
const fresh = (l) => badges(l).some(([c]) => c === 'new');

function facts(l) {
  const f = [];
  if (l.status === 'scheduled') f.push(['Opens', 'when the host starts it']);
  else if (l.kind === 'english') f.push(['Ends in', duration(secondsTo(l.ends_at))]);
  else f.push(['Left', left(l) > 0 ? `${left(l)} of ${l.qty_total}` : 'sold out']);
  if (l.kind === 'dutch' && l.status === 'open') f.push(['Next drop', l.next_tick_at ? soonIn(secondsTo(l.next_tick_at)) : 'at the floor']);
  f.push(['Watching', String(l.watchers || 0)]);
  return f;
}

export async function lobbyView(view) {
  const cards = new Map(); // lot id -> { node, h3 }
  const regions = new Map(); // lot id -> Map(region -> count), from the feed
  let lots = [];
  let recent = [];
  let filter = sessionStorage.getItem('lz-filter') || 'all';

  const liveGrid = el('div', { class: 'grid lots', id: 'live-lots' });
  const soonGrid = el('div', { class: 'grid lots', id: 'soon-lots' });
  const soon = el('section', { 'aria-labelledby': 'soon-h', hidden: true }, el('h2', { id: 'soon-h' }, 'Opening soon'), soonGrid);
  const closedList = el('ul', { class: 'closed-list', id: 'closed-lots' });
  const closed = el('section', { 'aria-labelledby': 'closed-h', class: 'card', hidden: true }, el('h2', { id: 'closed-h' }, 'Recently closed'), closedList);
  const summary = el('p', { class: 'muted', id: 'lobby-summary' });
  const empty = el('p', { class: 'empty', hidden: true }, 'No lots of this kind are live right now.');
  const chips = el('div', { class: 'chips', role: 'group', 'aria-label': 'Show' }, FILTERS.map(([k, text]) =>
    el('button', { type: 'button', class: 'chip', 'data-filter': k, 'aria-pressed': String(k === filter), onclick: () => { filter = k; sessionStorage.setItem('lz-filter', k); draw(); } }, text)));

  const board = boardPanel('Leaderboard');
  const feed = el('ol', { class: 'feed', id: 'global-feed', 'aria-label': 'Activity across all lots' });
  const shown = new Set(); // feed events shown, by lot and seq
  // Events come newest first; the oldest is put on top first, so the
  // newest ends up there. Only the lobby's lots are told of: an event of a
  // lot the lobby does not list yet waits for the next lobby read, and one
  // of an unlisted lot (the proof's) is dropped then.
  let waiting = [];
  const addFeed = (events, settle = false) => {
    const later = [];
    for (const f of [...events].reverse()) {
      const k = `${f.lot}#${f.seq}`;
      if (shown.has(k)) continue;
      if (!titles.has(f.lot)) { if (!settle) later.push(f); continue; }
      shown.add(k);
      const r = f.data?.bidder_region || f.data?.buyer_region;
      if (r) { const m = regions.get(f.lot) || new Map(); m.set(r, (m.get(r) || 0) + 1); regions.set(f.lot, m); }
      feed.prepend(eventItem(f, lotLink(f.lot)));
    }
    waiting = later.reverse().concat(waiting);
    while (feed.children.length > 50) feed.lastChild.remove();
  };

  // card keeps one node per lot, its link kept across updates so keyboard
  // focus stays put while the numbers change.
  function card(l) {
    let c = cards.get(l.id);
    if (!c) {
      const link = el('a', { href: `#/lot/${l.id}`, class: 'stretch' });
      const h3 = el('h3', {}, link);
      c = { node: el('article', { class: 'lot-card', 'data-lot': l.id }), h3, link, top: null, body: null };
      cards.set(l.id, c);
    }
    c.node.dataset.kind = l.kind;
    c.node.dataset.status = l.status;
    if (c.link.textContent !== l.title) c.link.textContent = l.title;
    const [big, note] = headline(l);
    const mix = [...(regions.get(l.id) || new Map())].sort((a, b) => b[1] - a[1]).slice(0, 3);
    const top = el('div', { class: 'lot-top' }, el('span', { class: `tag kind-${l.kind}` }, KIND[l.kind]),
      ...badges(l).map(([cls, text]) => el('span', { class: `badge-s ${cls}` }, text)));
    const body = el('div', { class: 'lot-body' },
      el('div', { class: 'price' }, big), el('div', { class: 'muted small' }, note),
      el('dl', { class: 'facts' }, facts(l).map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v)))),
      mix.length ? el('p', { class: 'regions', 'aria-label': 'Where bids and buys come from' }, mix.map(([r, n]) => el('span', { class: 'region' }, `${r} ×${n}`))) : null);
    c.node.replaceChildren(top, c.h3, body);
    return c.node;
  }

  // place puts nodes into a container in order, moving only what moved.
  const place = (box, nodes) => {
    nodes.forEach((n, i) => { if (box.children[i] !== n) box.insertBefore(n, box.children[i] || null); });
    while (box.children.length > nodes.length) box.lastChild.remove();
  };

  let closedKey = '';
  function draw() {
    for (const b of chips.children) b.setAttribute('aria-pressed', String(b.dataset.filter === filter));
    const mine = (l) => filter === 'all' || l.kind === filter;
    const live = lots.filter((l) => l.status === 'open');
    const order = (l) => (urgent(l) ? 0 : fresh(l) ? 1 : 2);
    const shownLive = live.filter(mine).map((l, i) => [l, i])
      .sort(([a, i], [b, j]) => order(a) - order(b) || (order(a) === 0 ? timeLeft(a) - timeLeft(b) : 0) || i - j)
      .map(([l]) => card(l));
    place(liveGrid, shownLive);
    empty.hidden = shownLive.length > 0;
    const scheduled = lots.filter((l) => l.status === 'scheduled' && mine(l));
    place(soonGrid, scheduled.map(card));
    soon.hidden = scheduled.length === 0;
    const watching = lots.reduce((n, l) => n + (l.watchers || 0), 0);
    summary.textContent = `${plural(live.length, 'lot')} live · ${plural(watching, 'person', 'people')} watching`;
    closed.hidden = recent.length === 0;
    // Rebuilt only when the list changed: a focused link stays focused.
    const key = JSON.stringify(recent.slice(0, 6).map((l) => [l.id, l.title, l.winner, l.high_bid, l.qty_claimed, l.price]));
    if (key === closedKey) return;
    closedKey = key;
    closedList.replaceChildren(...recent.slice(0, 6).map((l) => el('li', {},
      el('a', { href: `#/lot/${l.id}` }, l.title), ' ',
      el('span', { class: 'muted' }, l.kind === 'english'
        ? (l.winner ? `won by ${l.winner} at ${money(l.high_bid)}` : 'closed without a winner')
        : `${l.qty_claimed} of ${l.qty_total} sold at ${money(l.price)}${l.qty_claimed >= l.qty_total && l.qty_total > 1 ? ' · sold out' : ''}`))));
  }

  const read = async () => {
    ({ lots, recent = [] } = await api('/api/lots'));
    for (const l of [...lots, ...recent]) titles.set(l.id, l.title);
    const held = waiting; waiting = [];
    addFeed(held, true);
    draw();
  };

  view.replaceChildren(
    el('div', { class: 'page-head' }, el('h1', {}, 'Live now'), summary),
    chips,
    el('div', { class: 'room' },
      el('div', { class: 'stack' }, el('section', { 'aria-label': 'Live lots' }, liveGrid, empty), soon, closed),
      el('aside', { 'aria-label': 'Across all lots', class: 'stack' }, el('section', { class: 'card' }, el('h2', {}, 'Happening now'), feed), board.node)));
  await read();
  // The leaderboard and the feed are live: watch the lobby (again after a
  // reconnect); frames follow.
  const watch = () => request('watch').then((r) => { for (const b of r.leaderboards) board.set(b); addFeed(r.feed); }).catch(say);
  const off = listen((f) => {
    if (f.type === 'live') watch();
    else if (f.type === 'leaderboard' && !f.lot) board.set(f);
    else if (f.type === 'feed') addFeed(f.events);
  });
  if (S.welcome && S.ws?.readyState === 1) watch();
  // Countdowns tick every second; the list itself is read every two.
  let n = 0;
  const t = setInterval(() => { if (++n % 2 === 0) read().catch(() => {}); else draw(); }, 1000);
  return () => { off(); clearInterval(t); request('unwatch').catch(() => {}); };
}
