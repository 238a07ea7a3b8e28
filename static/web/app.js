// LotZero's web UI: plain JavaScript modules, no build step. It speaks the
// same protocol as bots (protocol/README.md) over /ws and /api.
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'auctioneer'];
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-southeast-1', 'sa-east-1'];
const EMOJIS = ['👏', '🔥', '😮', '😂', '❤️', '💸', '🎉', '👀'];
const WORDS = {
  bid_too_low: 'That bid is too low — it must reach the minimum shown.',
  sold_out: 'Sold out — someone got there first.',
  insufficient_funds: 'Not enough available funds in your wallet.',
  lot_closed: 'This lot has closed.',
  lot_not_open: 'This lot has not opened yet.',
  limit_exceeded: 'That is more than the limit per person.',
  price_changed: 'The price changed; check it and try again.',
  rate_limited: 'Slow down a little and try again.',
  forbidden: 'Only the lot’s host can do that.',
  busy: 'The auction house is busy; nothing changed — please try again.',
  not_found: 'That lot does not exist.',
  bad_request: 'That request was not valid.',
  unauthorized: 'Your session expired; signing in again.',
  internal: 'Something went wrong on our side; please try again.',
};

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k);
  return e;
};
export const money = (c) => (c / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });
const cents = (s) => Math.round(parseFloat(String(s).replace(/[$,]/g, '')) * 100);
const left = (iso) => {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return s >= 3600 ? `${Math.floor(s / 3600)}h ${Math.floor(s % 3600 / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
};

// ---- session: identity, WebSocket, requests ----
const params = new URLSearchParams(location.search);
const S = {
  user: params.get('user') || localStorage.getItem('lz-user') || 'alice',
  region: params.get('region') || localStorage.getItem('lz-region') || 'eu-west-1',
  token: null, ws: null, wallet: null, welcome: null,
  pending: new Map(), seq: new Map(), joined: new Set(), listeners: new Set(),
  next: 0, prefix: Math.random().toString(36).slice(2, 8), retry: 500,
};

function notice(text, good = false) {
  const n = $('#notice');
  n.textContent = text;
  n.className = good ? 'notice good' : 'notice';
  n.hidden = !text;
  clearTimeout(notice.t);
  if (text) notice.t = setTimeout(() => { n.hidden = true; }, 6000);
}
const say = (err) => notice(WORDS[err?.code] || err?.message || String(err));

async function api(path, body) {
  const opts = { headers: { 'Content-Type': 'application/json' } };
  if (S.token) opts.headers.Authorization = `Bearer ${S.token}`;
  if (body !== undefined) { opts.method = 'POST'; opts.body = JSON.stringify(body); }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw data.error || { code: 'internal', message: res.statusText };
  return data;
}

async function login() {
  const s = await api('/api/session', { user: S.user, region: S.region });
  S.token = s.token;
}

function connect() {
  setConn('connecting…', '');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  S.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token: S.token, region: S.region }));
  ws.onmessage = (m) => onFrame(JSON.parse(m.data));
  ws.onclose = async (e) => {
    if (S.ws !== ws) return;
    setConn('reconnecting…', 'down');
    for (const [, p] of S.pending) p.reject({ code: 'busy', message: 'connection lost' });
    S.pending.clear();
    if (e.code === 4001) await login().catch(() => {});
    setTimeout(connect, S.retry);
    S.retry = Math.min(S.retry * 2, 8000);
  };
}

function setConn(text, cls) { const c = $('#conn'); c.textContent = text; c.className = `conn ${cls}`; }

async function onFrame(f) {
  if (f.type === 'welcome') {
    S.welcome = f; S.wallet = f.wallet; S.retry = 500;
    setConn(`live · ${f.server.node}`, 'live');
    // Resume every room with the last seq seen: nothing is missed.
    for (const lot of S.joined) request('join', { lot, since: S.seq.get(lot) || 0 }).catch(say);
    emit({ type: 'wallet', wallet: f.wallet });
    emit({ type: 'live' }); // views that watch something ask again
    return;
  }
  if (f.type === 'reply') {
    const p = S.pending.get(f.re);
    if (p) { S.pending.delete(f.re); f.ok ? p.resolve(f.result) : p.reject(f.error); }
    return;
  }
  if (f.type === 'event' && f.seq) S.seq.set(f.lot, Math.max(S.seq.get(f.lot) || 0, f.seq));
  if (f.type === 'wallet') S.wallet = f.wallet;
  if (f.type === 'outbid') notice(`You were outbid on a lot: the high bid is now ${money(f.amount)} (from ${f.by_region}). Your hold was released.`);
  emit(f);
}
function emit(f) { for (const l of S.listeners) l(f); }
const listen = (fn) => { S.listeners.add(fn); return () => S.listeners.delete(fn); };

function request(type, fields = {}) {
  return new Promise((resolve, reject) => {
    if (!S.ws || S.ws.readyState !== 1 || !S.welcome) return reject({ code: 'busy', message: 'not connected yet' });
    const id = `${S.prefix}-${++S.next}`;
    S.pending.set(id, { resolve, reject });
    S.ws.send(JSON.stringify({ type, id, ...fields }));
  });
}

// ---- views ----
let cleanup = () => {};
async function route() {
  cleanup(); cleanup = () => {};
  const view = $('#view');
  const [, page, id] = location.hash.split('/');
  try {
    if (page === 'lot' && id) cleanup = await lotView(view, id);
    else if (page === 'wallet') cleanup = await walletView(view);
    else if (page === 'proof') cleanup = proofView(view);
    else cleanup = await lobbyView(view);
  } catch (e) { say(e); }
}

// ---- the social views: leaderboards and the activity feed ----
const titles = new Map(); // lot id -> title, for the feed's sentences
const titleOf = (id) => titles.get(id) || 'a lot';
const lotLink = (id) => el('a', { href: `#/lot/${id}` }, titleOf(id));

// feedLine says one feed event in words: no raw kinds.
function feedLine(f) {
  const d = f.data || {};
  const at = el('span', { class: 'muted' }, new Date(f.at).toLocaleTimeString(), ' · ');
  const who = (u, r) => [el('strong', {}, u), r ? ` (${r})` : ''];
  const units = (q) => (q === 1 ? 'one unit' : `${q} units`);
  let words;
  switch (f.kind) {
    case 'bid': words = [...who(d.bidder, d.bidder_region), ` bid ${money(d.amount)} on `, lotLink(f.lot), d.proxy ? ' (by proxy)' : '']; break;
    case 'claimed': words = [...who(d.buyer, d.buyer_region), ` claimed ${units(d.qty)} of `, lotLink(f.lot), ` at ${money(d.price)}`]; break;
    case 'sold': words = [...who(d.buyer, d.buyer_region), ` bought ${units(d.qty)} of `, lotLink(f.lot), ` at ${money(d.price)}`]; break;
    case 'sold_out': words = [lotLink(f.lot), ` sold out: all ${d.qty_total} gone`]; break;
    case 'opened': words = [lotLink(f.lot), d.price ? ` opened at ${money(d.price)}` : d.start_price ? ` opened for bids from ${money(d.start_price)}` : ' opened']; break;
    case 'settled':
      if ('winner' in d) words = d.winner ? [lotLink(f.lot), ' settled: ', el('strong', {}, d.winner), ` won it at ${money(d.price)}`] : [lotLink(f.lot), ' closed without a winner'];
      else words = [lotLink(f.lot), ` settled: ${units(d.qty_sold)} sold for ${money(d.proceeds)}`];
      break;
    default: words = [lotLink(f.lot), ' changed'];
  }
  return el('li', { 'data-kind': f.kind }, at, ...words);
}

// boardPanel shows a leaderboard (recent or all time, ranked by amount or
// by count), kept current by set(board) as frames arrive.
function boardPanel(label) {
  const boards = {};
  let win = 'recent';
  let by = 'amount';
  const body = el('div', { class: 'board-body' });
  const tab = (w, text) => el('button', { class: 'secondary', 'data-window': w, 'aria-pressed': String(w === win), onclick: () => { win = w; draw(); } }, text);
  const sortBy = el('select', { 'aria-label': 'Rank by', onchange: () => { by = sortBy.value; draw(); } },
    el('option', { value: 'amount' }, 'by amount'), el('option', { value: 'count' }, 'by count'));
  const tabs = el('div', { class: 'row tabs' }, tab('recent', 'Last hour'), tab('all', 'All time'), sortBy);
  const list = (title, lines, fmt) => [el('h3', {}, title), lines.length
    ? el('ol', { class: 'ranks' }, lines.slice(0, 5).map((l, i) => el('li', {}, el('span', { class: 'rank' }, `${i + 1}`), el('strong', {}, l.user || l.region), ' ', el('span', { class: 'muted' }, fmt(l)))))
    : el('p', { class: 'muted' }, 'Nobody yet.')];
  function draw() {
    for (const b of tabs.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.window === win));
    const b = boards[win];
    if (!b) { body.replaceChildren(el('p', { class: 'muted' }, 'Loading…')); return; }
    const key = by === 'amount' ? 'by_amount' : 'by_count';
    body.replaceChildren(
      ...list('Top bidders', b.bidders[key], (l) => `${money(l.amount)} high · ${l.count} ${l.count === 1 ? 'bid' : 'bids'}`),
      ...list('Top buyers', b.buyers[key], (l) => `${money(l.amount)} spent · ${l.count} ${l.count === 1 ? 'unit' : 'units'}`),
      ...list('Most active Regions', b.regions, (l) => `${l.count} ${l.count === 1 ? 'action' : 'actions'}${l.amount ? ` · ${money(l.amount)} spent` : ''}`));
  }
  const node = el('section', { class: 'card board', 'aria-label': label }, el('h2', {}, label), tabs, body);
  draw();
  return { node, set: (b) => { boards[b.window] = b; draw(); } };
}

async function lobbyView(view) {
  const lotsNode = el('div');
  const board = boardPanel('Leaderboard');
  const feed = el('ol', { class: 'feed', id: 'global-feed', 'aria-label': 'Activity across all lots', 'aria-live': 'polite' });
  const shown = new Set(); // feed events shown, by lot and seq
  // events come newest first; the oldest is put on top first, so the
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
      feed.prepend(feedLine(f));
    }
    waiting = later.reverse().concat(waiting);
    while (feed.children.length > 50) feed.lastChild.remove();
  };
  const draw = async () => {
    const { lots, recent = [] } = await api('/api/lots');
    for (const l of [...lots, ...recent]) titles.set(l.id, l.title);
    const held = waiting; waiting = [];
    addFeed(held, true);
    const groups = { english: 'English auctions', dutch: 'Dutch auctions', drop: 'Drops' };
    const closed = recent.length ? [el('section', { 'aria-label': 'Recently closed' }, el('h2', {}, 'Recently closed'),
      el('ul', { class: 'feed' }, recent.map((l) => el('li', {}, el('a', { href: `#/lot/${l.id}` }, l.title), ` · ${l.status}`,
        l.kind === 'english' && l.winner ? ` · won by ${l.winner} at ${money(l.price)}` : ''))))] : [];
    lotsNode.replaceChildren(...Object.entries(groups).map(([kind, title]) => el('section', { 'aria-label': title },
      el('h2', {}, title),
      el('div', { class: 'grid' }, lots.filter((l) => l.kind === kind).map((l) => el('a', { class: 'card', href: `#/lot/${l.id}`, 'data-lot': l.id },
        el('h3', {}, l.title),
        el('div', { class: 'big', style: 'font-size:1.5rem' }, money(kind === 'english' ? (l.high_bid || l.start_price) : l.price)),
        el('div', { class: 'muted' }, [
          l.status,
          kind === 'english' ? ` · ${l.bid_count} bids · ${left(l.ends_at)} left` : ` · ${l.qty_total - l.qty_claimed} of ${l.qty_total} left`,
          ` · ${l.watchers} watching`,
        ].join(''))))))), ...closed);
  };
  view.replaceChildren(el('h1', {}, 'Live lots'), el('div', { class: 'room' }, lotsNode,
    el('aside', { 'aria-label': 'Across all lots' }, board.node, el('section', { class: 'card' }, el('h2', {}, 'Happening now'), feed))));
  await draw();
  // The leaderboard and the feed are live: watch the lobby (again after a
  // reconnect); frames follow.
  const watch = () => request('watch').then((r) => { for (const b of r.leaderboards) board.set(b); addFeed(r.feed); }).catch(say);
  const off = listen((f) => {
    if (f.type === 'live') watch();
    else if (f.type === 'leaderboard' && !f.lot) board.set(f);
    else if (f.type === 'feed') addFeed(f.events);
  });
  if (S.welcome && S.ws?.readyState === 1) watch();
  const t = setInterval(() => draw().catch(() => {}), 2000);
  return () => { off(); clearInterval(t); request('unwatch').catch(() => {}); };
}

async function lotView(view, id) {
  let lot = (await api(`/api/lots/${id}`)).lot;
  titles.set(id, lot.title);
  const board = boardPanel('Leaderboard for this lot');
  for (const w of ['recent', 'all']) api(`/api/leaderboard?lot=${id}&window=${w}`).then((r) => board.set(r.leaderboard)).catch(() => {});
  // Reaction totals on the buttons: from the join, then reactions frames.
  const totals = {};
  const reactButtons = EMOJIS.map((e) => el('button', { 'aria-label': `React ${e}`, 'data-emoji': e, onclick: () => request('react', { lot: id, emoji: e }).catch(say) },
    e, el('span', { class: 'count' })));
  const drawTotals = () => {
    for (const b of reactButtons) { const n = totals[b.dataset.emoji] || 0; b.querySelector('.count').textContent = n ? ` ${n}` : ''; }
  };
  // Chat lines and reactions are shown once each: the join sends the
  // room's chat history and a rejoin sends it again; social_seq names them.
  const social = new Set();
  const feed = el('ol', { class: 'feed', 'aria-label': 'Activity' });
  const bids = el('ol', { class: 'feed', 'aria-label': 'Bid history' });
  const chat = el('ul', { class: 'feed', 'aria-label': 'Chat' });
  const people = el('ul', { class: 'feed', 'aria-label': 'Present' });
  const panel = el('div');
  // Names come from the join and the presence events (which name a few of
  // a crowd); the number is the server's count of everyone here.
  const present = new Map();
  let here = 0;
  const drawPeople = () => {
    people.replaceChildren(...[...present].slice(0, 100).map(([u, r]) => el('li', {}, u, el('span', { class: 'tag' }, r))));
    const h = view.querySelector('#here'); if (h) h.textContent = `Here now (${Math.max(here, present.size)})`;
  };
  // The lot is kept current from the events themselves (they carry what the
  // page shows): no read per event, however many watch the room.
  const act = (p) => p.catch(say);
  const apply = (f) => {
    if (!(f.seq > lot.seq)) return; // already in the snapshot
    const d = f.data || {};
    lot.seq = f.seq;
    switch (f.kind) {
      case 'bid':
        Object.assign(lot, { high_bid: d.high_bid, high_bidder: d.high_bidder, high_region: d.bidder_region,
          min_next_bid: d.min_next_bid, bid_count: d.bid_count, reserve_met: d.reserve_met });
        break;
      case 'extended': lot.ends_at = d.ends_at; break;
      case 'price_tick': Object.assign(lot, { price: d.price, step_index: d.step, next_tick_at: d.next_tick_at || null }); break;
      case 'claimed': case 'sold': lot.qty_claimed = d.qty_claimed; break;
      case 'sold_out': lot.qty_claimed = lot.qty_total; break;
      case 'opened': Object.assign(lot, d, { opened_at: f.at }); break;
      case 'closed': Object.assign(lot, { status: 'closed', closed_at: f.at, next_tick_at: null }); break;
      case 'settled':
        lot.status = 'settled';
        if ('winner' in d) Object.assign(lot, { winner: d.winner, price: d.price });
        break;
    }
  };

  // The panel is built once per lot kind; later changes update its text in
  // place, so what a shopper is typing is never wiped by a live event.
  let built = false;
  let prefill = '';
  const set = (sel, text) => { const n = panel.querySelector(sel); if (n && n.textContent !== text) n.textContent = text; };
  function draw() {
    if (!built) { build(); built = true; }
    set('#status', `${lot.status} · hosted by ${lot.host}`);
    const out = lot.qty_claimed >= lot.qty_total;
    if (lot.kind === 'english') {
      set('#high', money(lot.high_bid || lot.start_price));
      set('#leader', lot.high_bidder ? `High bidder ${lot.high_bidder} from ${lot.high_region}${lot.has_reserve ? (lot.reserve_met ? ' · reserve met' : ' · reserve not met') : ''}` : 'No bids yet — opening price shown');
      const amount = panel.querySelector('#amount');
      const next = (lot.min_next_bid / 100).toFixed(2);
      if (document.activeElement !== amount && (amount.value === prefill || amount.value === '')) amount.value = next;
      prefill = next;
      panel.querySelector('#bid').disabled = lot.status !== 'open';
    } else if (lot.kind === 'dutch') {
      set('#price', money(lot.price));
      set('#units', out ? 'Sold out' : `${lot.qty_total - lot.qty_claimed} of ${lot.qty_total} left · floor ${money(lot.floor_price)}`);
      panel.querySelector('#claim').disabled = lot.status !== 'open' || out;
      const steps = [];
      for (let i = 1, p = lot.price - lot.step; i <= 5 && p >= lot.floor_price; i++, p -= lot.step) steps.push(el('li', {}, `${money(p)}${lot.next_tick_at ? ` at ${new Date(Date.parse(lot.next_tick_at) + (i - 1) * lot.interval_ms).toLocaleTimeString()}` : ''}`));
      panel.querySelector('#steps').replaceChildren(...steps);
    } else {
      set('#units', out ? 'Sold out' : `${lot.qty_total - lot.qty_claimed} of ${lot.qty_total} left${lot.per_user_limit ? ` · limit ${lot.per_user_limit} per person` : ''}`);
      const buy = panel.querySelector('#buy');
      buy.disabled = out || lot.status !== 'open';
      buy.textContent = out ? 'Sold out' : 'Buy';
    }
  }

  function build() {
    const isHost = S.user === lot.host;
    const status = el('p', { class: 'muted', id: 'status' });
    if (lot.kind === 'english') {
      const amount = el('input', { id: 'amount', inputmode: 'decimal', 'aria-label': 'Your bid in dollars' });
      const max = el('input', { id: 'max', inputmode: 'decimal', placeholder: 'optional', 'aria-label': 'Proxy maximum in dollars' });
      panel.replaceChildren(status,
        el('div', { class: 'big', id: 'high' }),
        el('p', { id: 'leader' }),
        el('p', {}, 'Ends in ', el('strong', { id: 'countdown', 'aria-live': 'off' }, left(lot.ends_at))),
        el('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); const f = { lot: id, amount: cents(amount.value) }; if (max.value) f.max = cents(max.value); act(request('bid', f).then((r) => notice(r.high ? `You lead at ${money(r.amount)}.` : 'A proxy bid answered yours at once; raise your maximum.', r.high))); } },
          el('label', {}, 'Your bid', amount), el('label', {}, 'Proxy maximum', max), el('button', { id: 'bid' }, 'Place bid')),
        el('p', { id: 'held' }, `Held in your wallet: ${money(S.wallet?.held || 0)} · available ${money(S.wallet?.available || 0)}`),
        el('h2', {}, 'Bids'), bids);
    } else if (lot.kind === 'dutch') {
      panel.replaceChildren(status,
        el('div', { class: 'big', id: 'price', 'aria-live': 'polite' }),
        el('p', { id: 'units' }),
        el('button', { id: 'claim', onclick: () => act(request('claim', { lot: id, qty: 1 }).then((r) => notice(`Claimed at ${money(r.price)}!`, true))) }, 'Claim now'),
        isHost ? el('div', { class: 'row', 'aria-label': 'Host controls' },
          el('button', { class: 'secondary', id: 'open', onclick: () => act(request('open', { lot: id })) }, 'Open'),
          el('button', { class: 'secondary', id: 'tick', onclick: () => act(request('tick', { lot: id, step: lot.step_index })) }, 'Tick down'),
          el('button', { class: 'secondary', id: 'close', onclick: () => act(request('close', { lot: id })) }, 'Close')) : null,
        el('h2', {}, 'Coming steps'), el('ol', { class: 'feed', id: 'steps' }),
        el('h2', {}, 'Activity'), feed);
    } else {
      const qty = el('input', { id: 'qty', type: 'number', min: 1, value: 1, 'aria-label': 'Quantity' });
      panel.replaceChildren(status,
        el('div', { class: 'big' }, money(lot.price)),
        el('p', { id: 'units' }),
        el('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); act(request('buy', { lot: id, qty: parseInt(qty.value, 10) }).then((r) => notice(`Bought ${r.qty} at ${money(r.price)}.`, true))); } },
          el('label', {}, 'Quantity', qty), el('button', { id: 'buy' }, 'Buy')),
        el('h2', {}, 'Activity'), feed);
    }
  }

  const text = el('input', { id: 'chat-text', maxlength: 500, 'aria-label': 'Chat message' });
  view.replaceChildren(el('h1', {}, lot.title), el('div', { class: 'room' }, panel,
    el('aside', { 'aria-label': 'Room' },
      el('h2', { id: 'here' }, 'Here now'), people,
      el('div', { class: 'react', 'aria-label': 'Reactions' }, reactButtons),
      el('h2', {}, 'Chat'), chat,
      el('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); if (text.value.trim()) request('chat', { lot: id, text: text.value }).then(() => { text.value = ''; }).catch(say); } },
        text, el('button', {}, 'Send')),
      board.node)));
  draw();

  const off = listen((f) => {
    if (f.type === 'wallet' && lot.kind === 'english') { const h = $('#held'); if (h) h.textContent = `Held in your wallet: ${money(f.wallet.held)} · available ${money(f.wallet.available)}`; }
    if (f.type === 'leaderboard' && f.lot === id) { board.set(f); return; }
    if (f.type === 'reactions' && f.lot === id) { Object.assign(totals, f.totals); drawTotals(); return; }
    if (f.type !== 'event' || f.lot !== id) return;
    const d = f.data || {};
    if (f.social_seq && (f.kind === 'chat' || f.kind === 'reaction')) {
      const k = `${f.kind}#${f.social_seq}`;
      if (social.has(k)) return;
      social.add(k);
    }
    if (f.kind === 'chat') chat.append(el('li', {}, el('strong', {}, d.user), ` (${d.region}) `, d.text));
    else if (f.kind === 'reaction') chat.append(el('li', { class: 'muted' }, `${d.user} reacted ${d.emoji}`));
    else if (f.kind === 'presence') {
      for (const p of d.joined || []) present.set(p.user, p.region);
      for (const p of d.left || []) present.delete(p.user);
      if (typeof d.count === 'number') here = d.count;
      drawPeople();
    } else {
      if (f.kind === 'bid') bids.prepend(el('li', {}, `${money(d.amount)} — ${d.bidder} (${d.bidder_region})`, d.proxy ? el('span', { class: 'tag' }, 'proxy') : null));
      if (f.kind === 'extended') notice(`Soft close: bidding extended to ${new Date(d.ends_at).toLocaleTimeString()}.`, true);
      feed.prepend(el('li', {}, `${f.kind}${d.price ? ` ${money(d.price)}` : ''}${d.buyer ? ` by ${d.buyer} (${d.buyer_region})` : ''}`));
      apply(f);
      draw();
    }
  });
  const tick = setInterval(() => { const c = $('#countdown'); if (c) c.textContent = left(lot.ends_at); }, 1000);
  S.joined.add(id);
  // The room's recent events come with the join (from the server's memory):
  // they fill the feeds; the snapshot in the reply is the lot's state.
  const joined = await request('join', { lot: id, since: Math.max(0, lot.seq - 50) }).catch((e) => { say(e); return null; });
  if (joined) {
    if (joined.lot.seq >= lot.seq) { lot = joined.lot; draw(); }
    for (const p of joined.presence) present.set(p.user, p.region);
    Object.assign(totals, joined.reactions || {});
    drawTotals();
    here = joined.lot.watchers;
    drawPeople();
  }
  return () => { off(); clearInterval(tick); S.joined.delete(id); request('leave', { lot: id }).catch(() => {}); };
}

async function walletView(view) {
  const draw = async () => {
    const { wallet: w, entries } = await api('/api/wallet');
    view.replaceChildren(el('h1', {}, `${S.user}’s wallet`),
      el('div', { class: 'grid' },
        el('div', { class: 'card' }, el('div', { class: 'muted' }, 'Available'), el('div', { class: 'big', id: 'available' }, money(w.available))),
        el('div', { class: 'card' }, el('div', { class: 'muted' }, 'Held for your leading bids'), el('div', { class: 'big', id: 'wallet-held' }, money(w.held))),
        el('div', { class: 'card' }, el('div', { class: 'muted' }, 'Total'), el('div', { class: 'big' }, money(w.available + w.held)))),
      el('h2', {}, 'Recent entries'),
      el('table', {}, el('thead', {}, el('tr', {}, ['When', 'What', 'Amount', 'Lot', 'Region'].map((h) => el('th', {}, h)))),
        el('tbody', {}, entries.map((e) => el('tr', {}, el('td', {}, new Date(e.at).toLocaleString()), el('td', {}, e.kind), el('td', {}, money(e.amount)),
          el('td', {}, e.lot ? el('a', { href: `#/lot/${e.lot}` }, e.lot.slice(0, 8)) : '—'), el('td', {}, e.region))))));
  };
  await draw();
  return listen((f) => { if (f.type === 'wallet') draw().catch(() => {}); });
}

function proofView(view) {
  const scenario = el('select', { id: 'scenario', 'aria-label': 'Scenario' },
    el('option', { value: 'oversell' }, 'Oversell: N buyers, K units'),
    el('option', { value: 'double-spend' }, 'Double spend: one wallet, N lots'),
    el('option', { value: 'dutch' }, 'Dutch: N claimers, K units, the price ticking'),
    el('option', { value: 'english' }, 'English: N proxy bidders to the close'));
  const n = el('input', { id: 'n', type: 'number', min: 1, max: 2000, value: 200, 'aria-label': 'N' });
  const k = el('input', { id: 'k', type: 'number', min: 1, value: 20, 'aria-label': 'K' });
  const out = el('div', { id: 'proof-result', 'aria-live': 'polite' });
  const runs = el('ol', { class: 'feed', id: 'proof-runs', 'aria-label': 'Last runs' });
  const run = el('button', { id: 'run' }, 'Run the proof');
  const backend = { 'aurora-dsql': 'Aurora DSQL', postgres: 'PostgreSQL', 'embedded-postgres': 'PostgreSQL (embedded)' };
  const drawRuns = async () => {
    const { runs: list } = await api('/api/proof/runs');
    runs.replaceChildren(...list.map((r) => el('li', {},
      el('span', { class: `badge ${r.ok ? 'held' : 'violated'}` }, r.ok ? 'held' : 'VIOLATED'),
      ` ${r.scenario} n=${r.n} k=${r.k} · oversells ${r.oversells} · double-spends ${r.double_spends} · ${r.duration_ms.toFixed(0)} ms · OCC retries ${r.occ_retries} · `,
      el('a', { href: `/api/proof/runs/${r.id}/report` }, 'report'), ' · ',
      el('a', { href: `/api/proof/runs/${r.id}/record` }, 'record'))));
  };
  view.replaceChildren(el('h1', {}, 'Proof console'),
    el('p', { class: 'muted' }, 'Races real WebSocket sessions against this server and checks every invariant from what they saw. The record re-checks offline with lotzero proof check FILE.'),
    el('form', { class: 'row', onsubmit: async (e) => {
      e.preventDefault(); run.disabled = true; out.replaceChildren(el('p', {}, 'Racing…'));
      try {
        const r = await api('/api/proof', { scenario: scenario.value, n: parseInt(n.value, 10), k: parseInt(k.value, 10) });
        const regions = Object.entries(r.regions || {}).sort();
        const most = Math.max(1, ...regions.map(([, c]) => c.ok + c.rejected + c.info));
        out.replaceChildren(
          el('p', {}, el('span', { class: `badge ${r.ok ? 'held' : 'violated'}`, id: 'verdict' }, r.ok ? 'Invariant held' : 'Invariant VIOLATED'),
            el('span', { id: 'counters' }, ` oversells ${r.check.oversells} · double-spends ${r.check.double_spends}`)),
          el('table', {}, el('tbody', {},
            [['Succeeded', r.check.succeeded], ['Rejected', Object.entries(r.check.rejected).map(([c, v]) => `${c} ${v}`).join(', ') || '0'],
              ['Unknown outcome', r.check.info], ['Sold', r.check.sold], ['Duration', `${r.duration_ms.toFixed(1)} ms`],
              ['Latency p50 / p99', `${r.latency_ms.p50.toFixed(1)} / ${r.latency_ms.p99.toFixed(1)} ms`], ['OCC retries', r.occ_retries],
              ['Ledger', backend[r.backends.ledger] || r.backends.ledger], ['Firehose', r.backends.firehose],
              ['Nodes', (r.nodes || []).map((x) => `${x.url} (${x.commits} commits, ${x.occ_retries} OCC retries)`).join(' · ')]]
              .map(([a, b]) => el('tr', {}, el('th', {}, a), el('td', { 'data-k': a }, String(b)))))),
          el('h2', {}, 'By Region'),
          el('div', { class: 'bars' }, regions.map(([reg, c]) => el('div', {}, el('span', { style: 'width:9rem' }, reg),
            el('span', { class: 'bar', style: `width:${Math.round(12 * (c.ok + c.rejected + c.info) / most)}rem` }), `${c.ok} ok · ${c.rejected} rejected`))),
          el('p', {}, 'Lots of this run (kept out of the lobby): ', ...(r.lots || []).slice(0, 5).flatMap((id, i) => [i ? ' · ' : '', el('a', { href: `#/lot/${id}` }, id.slice(0, 8))])),
          ...(r.check.violations || []).map((v) => el('p', { class: 'notice' }, v)));
        await drawRuns();
      } catch (err) { out.replaceChildren(); say(err); } finally { run.disabled = false; }
    } }, el('label', {}, 'Scenario', scenario), el('label', {}, 'N', n), el('label', {}, 'K', k), run),
    out, el('h2', {}, 'Last runs'), runs);
  drawRuns().catch(() => {});
  return () => {};
}

// ---- start ----
function pickers() {
  const user = $('#user'); const region = $('#region');
  user.replaceChildren(...USERS.map((u) => el('option', { value: u, selected: u === S.user }, u === 'auctioneer' ? 'auctioneer (host)' : u)));
  region.replaceChildren(...REGIONS.map((r) => el('option', { value: r, selected: r === S.region }, r)));
  const change = async () => {
    S.user = user.value; S.region = region.value;
    localStorage.setItem('lz-user', S.user); localStorage.setItem('lz-region', S.region);
    await login().catch(say);
    const old = S.ws; S.ws = null; S.welcome = null; old?.close();
    connect(); route();
  };
  user.onchange = change; region.onchange = change;
}

async function start() {
  pickers();
  await login();
  connect();
  await new Promise((resolve) => { const off = listen((f) => { if (f.type === 'wallet') { off(); resolve(); } }); });
  addEventListener('hashchange', route);
  route();
}
start().catch(say);
