// My activity: my bids (leading, outbid, won, lost), my purchases and
// claims, and my holds, each linked to its lot, from GET /api/me/activity,
// read again when my wallet changes or I am outbid (and every few seconds,
// for lots that close).
import { el, money, plural, duration, secondsTo, api, listen, request, notice, say, titles, S } from './core.js';

const STANDING = {
  leading: ['good', 'Leading'],
  outbid: ['bad', 'Outbid'],
  won: ['good', 'Won'],
  lost: ['', 'Lost'],
};

const lotLink = (l) => el('a', { href: `#/lot/${l.id}` }, l.title);

// rebid bids the lot's minimum as the server has it now (the list may be
// a few seconds old); refused as too low, the list is read again.
async function rebidAt(id, title, redraw) {
  try {
    const { lot } = await api(`/api/lots/${id}`);
    const r = await request('bid', { lot: id, amount: lot.min_next_bid });
    notice(r.high ? `You lead ${title} at ${money(r.amount)}.` : 'A proxy bid answered yours at once.', r.high);
  } catch (err) {
    say(err);
    if (err?.code === 'bid_too_low') redraw();
  }
}

function bidLine(a, redraw) {
  const l = a.lot;
  const [cls, word] = STANDING[a.standing] || ['', ''];
  const open = l.status === 'open';
  const what = {
    leading: [`You lead at ${money(l.high_bid)}`, open ? [' · ends in ', el('span', { 'data-ends': l.ends_at }, duration(secondsTo(l.ends_at)))] : ''],
    outbid: `Your best bid ${money(a.top_bid)} · the high bid is now ${money(l.high_bid)}`,
    won: `You won at ${money(l.high_bid)}`,
    lost: l.winner ? `Won by ${l.winner} at ${money(l.high_bid)} · your best bid ${money(a.top_bid)}` : `Closed without a winner · your best bid ${money(a.top_bid)}`,
  }[a.standing] || '';
  const rebid = a.standing === 'outbid' && open
    ? el('button', { type: 'button', class: 'small', 'data-rebid': l.id, onclick: () => rebidAt(l.id, l.title, redraw) }, `Bid ${money(l.min_next_bid)}`)
    : null;
  return el('li', { class: 'act-line', 'data-lot': l.id, 'data-standing': a.standing },
    el('span', { class: `state ${cls}` }, word), el('div', { class: 'grow' }, lotLink(l), el('div', { class: 'muted small' }, what)), rebid);
}

function buyLine(a) {
  const l = a.lot;
  const verb = l.kind === 'dutch' ? 'claimed' : 'bought';
  const each = a.bought ? Math.round(a.paid / a.bought) : 0;
  return el('li', { class: 'act-line', 'data-lot': l.id },
    el('span', { class: 'state good' }, l.kind === 'dutch' ? 'Claimed' : 'Bought'),
    el('div', { class: 'grow' }, lotLink(l), el('div', { class: 'muted small' },
      `You ${verb} ${a.bought}${each * a.bought === a.paid ? ` at ${money(each)}` : ''} · ${money(a.paid)} in all`)));
}

function holdLine(a) {
  const l = a.lot;
  return el('li', { class: 'act-line', 'data-lot': l.id },
    el('span', { class: 'state' }, 'Held'),
    el('div', { class: 'grow' }, lotLink(l), el('div', { class: 'muted small' },
      `${money(a.held)} held while your bid leads — released if you are outbid, paid if you win`)));
}

const section = (id, title, items, emptyText) => el('section', { class: 'card', 'aria-labelledby': `${id}-h`, id },
  el('h2', { id: `${id}-h` }, title, items.length ? el('span', { class: 'count-badge' }, String(items.length)) : null),
  items.length ? el('ul', { class: 'act-list' }, items) : el('p', { class: 'muted' }, emptyText));

export async function activityView(view) {
  const body = el('div', { class: 'activity-grid' });
  view.replaceChildren(el('div', { class: 'page-head' }, el('h1', {}, 'My activity'),
    el('p', { class: 'muted' }, `Everything ${S.user} has bid on, bought or has money held for.`)), body);
  // The list is rebuilt only when what it says changed (the countdowns
  // tick in place), so a focused re-bid button or link keeps the focus.
  let shown = '';
  const tickEnds = () => { for (const n of body.querySelectorAll('[data-ends]')) n.textContent = duration(secondsTo(n.dataset.ends)); };
  const draw = async () => {
    const a = await api('/api/me/activity');
    const key = JSON.stringify([a.lots.map((x) => [x.lot.id, x.lot.title, x.lot.status, x.lot.high_bid, x.lot.min_next_bid, x.lot.winner, x.lot.ends_at,
      x.standing, x.top_bid, x.bids, x.bought, x.paid, x.held]), a.hosting.length]);
    if (key === shown) { tickEnds(); return; }
    shown = key;
    for (const x of a.lots) titles.set(x.lot.id, x.lot.title);
    const bids = a.lots.filter((x) => x.bids > 0);
    const order = { outbid: 0, leading: 1, won: 2, lost: 3 };
    bids.sort((x, y) => (order[x.standing] ?? 9) - (order[y.standing] ?? 9));
    const buys = a.lots.filter((x) => x.bought > 0);
    const holds = a.lots.filter((x) => x.held > 0);
    const sales = a.hosting.length ? [el('p', { class: 'muted' }, `You host ${plural(a.hosting.length, 'listed lot')}: `, el('a', { href: '#/host' }, 'see them on your host page'), '.')] : [];
    body.replaceChildren(
      section('my-bids', 'My bids', bids.map((x) => bidLine(x, () => { shown = ''; draw().catch(() => {}); })), 'No bids yet. Find a lot in the lobby and bid.'),
      section('my-buys', 'My purchases and claims', buys.map(buyLine), 'Nothing bought yet.'),
      section('my-holds', 'My holds', holds.map(holdLine), 'No money is held for you right now.'),
      ...sales);
  };
  await draw();
  let again = null;
  const soon = () => { clearTimeout(again); again = setTimeout(() => draw().catch(() => {}), 250); };
  const off = listen((f) => { if (f.type === 'wallet' || f.type === 'outbid' || f.type === 'live') soon(); });
  const t = setInterval(() => draw().catch(() => {}), 4000);
  return () => { off(); clearInterval(t); clearTimeout(again); };
}
