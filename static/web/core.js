// The pages' shared core: the session (token, WebSocket, requests), the
// DOM helper, money and time formatting, and the page notice. Plain
// JavaScript modules, no build step; the pages speak the same protocol as
// bots (protocol/README.md) over /ws and /api.

export const WORDS = {
  bid_too_low: 'That bid is too low — it must reach the minimum shown.',
  sold_out: 'Sold out — someone got there first.',
  insufficient_funds: 'Not enough available funds in your wallet.',
  lot_closed: 'This lot has closed.',
  lot_not_open: 'This lot has not opened yet.',
  price_changed: 'The price changed; check it and try again.',
  rate_limited: 'Slow down a little and try again.',
  busy: 'The auction house is busy; nothing changed — please try again.',
  not_found: 'That does not exist.',
  unauthorized: 'Your session expired; signing in again.',
  internal: 'Something went wrong on our side; please try again.',
};

export const $ = (sel, root = document) => root.querySelector(sel);

// el builds an element: attributes (on* are listeners; null, undefined and
// false are left out) and children (null, undefined and false are skipped,
// so `cond ? node : null` never prints "null").
export const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
};

// money formats minor units; anything that is not a finite number shows a
// dash, never "NaN".
export const money = (c) => (Number.isFinite(c) ? (c / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' }) : '—');
export const cents = (s) => {
  const n = Math.round(parseFloat(String(s).replace(/[$,\s]/g, '')) * 100);
  return Number.isFinite(n) ? n : NaN;
};
export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// duration says a number of seconds as "1h 4m", "4m 05s" or "12s".
export const duration = (s) => {
  s = Math.max(0, Math.round(s));
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
};
// soonIn says when something due in s seconds happens.
export const soonIn = (s) => (s < 1 ? 'any moment' : `in ${duration(s)}`);
export const secondsTo = (iso) => (iso ? (Date.parse(iso) - Date.now()) / 1000 : NaN);
export const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');
export const ago = (iso) => {
  const s = -secondsTo(iso);
  if (!Number.isFinite(s)) return '';
  return s < 60 ? 'just now' : `${duration(s).split(' ')[0]} ago`;
};

// ---- the session ----
const params = new URLSearchParams(location.search);
export const S = {
  user: params.get('user') || localStorage.getItem('lz-user') || 'alice',
  region: params.get('region') || localStorage.getItem('lz-region') || 'eu-west-1',
  // A token given in the address (production: from `lotzero token`) is
  // used as is; in demo mode the page signs in with POST /api/session.
  givenToken: params.get('token'),
  token: null, roles: [], ws: null, wallet: null, welcome: null, config: { demo: true, card_topups: false },
  pending: new Map(), seq: new Map(), joined: new Set(), listeners: new Set(),
  next: 0, prefix: Math.random().toString(36).slice(2, 8), retry: 500,
};
export const isHost = () => S.roles.includes('host');
export const titles = new Map(); // lot id -> title, for sentences

// ---- the notice: one line at the top that belongs to the page it was
// said on (route() clears it) and fades after a while ----
export function notice(text, good = false, action = null) {
  const n = $('#notice');
  n.replaceChildren(...(text ? [el('span', {}, text), action].filter(Boolean) : []));
  n.className = good ? 'notice good' : 'notice';
  n.hidden = !text;
  clearTimeout(notice.t);
  if (text) notice.t = setTimeout(() => { n.hidden = true; }, 8000);
}
export const clearNotice = () => notice('');
// words says a refused request in words: the friendly line for codes that
// mean one thing; the server's own message for codes it uses for many
// (forbidden, limit_exceeded, bad_request: a host's own lot, a frozen
// wallet, the per-person or the money cap…).
export const words = (err) => {
  const m = typeof err?.message === 'string' && err.message ? inDollars(err.message) : '';
  return (SERVER_SAYS.has(err?.code) && m) || WORDS[err?.code] || m || String(err);
};
// inDollars says the ledger's messages that carry minor units in dollars.
const AS_DOLLARS = [
  [/^wallet frozen: it owes (\d+)/, (o) => `Your wallet is frozen. You owe ${money(o)} after a card refund or dispute; add funds to clear it.`],
  [/would take in more than (\d+) minor units/, (max) => `That would take your wallet past the most it may hold (${money(max)}).`],
  [/^needs (\d+) available, wallet has (-?\d+)/, (need, has) => `That needs ${money(need)} available; your wallet has ${money(has)}.`],
  [/^a payout comes from earnings: (-?\d+) earned/, (can) => `You can pay out up to ${money(Math.max(0, can))}.`],
  [/already the high bidder at (\d+) with a maximum of (\d+)/, (at, max) => `You already lead at ${money(at)} with a maximum of ${money(max)}.`],
];
export function inDollars(msg) {
  for (const [re, say] of AS_DOLLARS) { const m = msg.match(re); if (m) return say(...m.slice(1).map(Number)); }
  return msg.charAt(0).toUpperCase() + msg.slice(1);
}
const SERVER_SAYS = new Set(['forbidden', 'limit_exceeded', 'bad_request']);
export const say = (err) => notice(words(err));

export async function api(path, body, headers = {}) {
  const opts = { headers: { 'Content-Type': 'application/json', ...headers } };
  if (S.token) opts.headers.Authorization = `Bearer ${S.token}`;
  if (body !== undefined) { opts.method = 'POST'; opts.body = JSON.stringify(body); }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign({ code: 'internal', message: res.statusText }, data.error, { status: res.status });
  return data;
}

export async function login() {
  S.config = await api('/api/config').catch(() => S.config);
  if (S.givenToken) {
    S.token = S.givenToken;
    try { S.roles = JSON.parse(atob(S.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).roles || []; } catch { S.roles = []; }
    return;
  }
  const roles = localStorage.getItem(`lz-host-${S.user}`) === '1' || S.user === 'auctioneer' ? ['bidder', 'host'] : ['bidder'];
  const s = await api('/api/session', { user: S.user, region: S.region, roles });
  S.token = s.token;
  S.roles = s.roles || [];
}

export function connect() {
  setConn('connecting…', '');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  S.ws = ws;
  // batch: a busy room's chat, reactions and presence come as one frame per
  // interval (with a count of lines the room did not show).
  ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token: S.token, region: S.region, batch: true }));
  ws.onmessage = (m) => onFrame(JSON.parse(m.data));
  ws.onclose = async (e) => {
    if (S.ws !== ws) return;
    setConn('reconnecting…', 'down');
    for (const [, p] of S.pending) p.reject({ code: 'busy', message: 'The connection dropped; nothing was sent twice — try again.' });
    S.pending.clear();
    if (e.code === 4001) await login().catch(() => {});
    setTimeout(connect, S.retry);
    S.retry = Math.min(S.retry * 2, 8000);
  };
}

// setConn says the connection's state; on a phone only a dot shows, the
// words stay for screen readers (.conn-text is visually hidden there).
function setConn(text, cls) {
  const c = $('#conn');
  c.replaceChildren(el('span', { class: 'conn-text' }, text));
  c.className = `conn ${cls}`;
}

// confirmTwice makes a button ask before it acts: the first tap turns it
// into "<label> now?", the second within a few seconds acts.
export function confirmTwice(button, label, name, act) {
  let t = null;
  const reset = () => { clearTimeout(t); t = null; button.textContent = label; button.setAttribute('aria-label', `${label} ${name()}`); delete button.dataset.armed; };
  reset();
  button.onclick = () => {
    if (!button.dataset.armed) {
      button.dataset.armed = '1';
      button.textContent = `${label} now?`;
      button.setAttribute('aria-label', `${label} ${name()} now? Tap again to confirm`);
      t = setTimeout(reset, 5000);
      return;
    }
    reset();
    act();
  };
  return reset;
}

// setWallet keeps the newest wallet: frames from different lots can arrive
// out of order, and version says which is newer.
function setWallet(w) {
  if (!w) return false;
  if (S.wallet && w.version && S.wallet.version && w.version < S.wallet.version) return false;
  S.wallet = w;
  const chip = $('#wallet-chip');
  if (chip) { chip.textContent = w.frozen ? 'Wallet frozen' : `${money(w.available)} available`; chip.classList.toggle('frozen', !!w.frozen); }
  return true;
}

// onFrame takes one server frame. A batch frame (several room events in
// one, maybe with a count of chat lines left out) is taken event by event.
export function onFrame(f) {
  if (f.type === 'welcome') {
    S.welcome = f; S.retry = 500;
    setWallet(f.wallet);
    setConn(`live · ${f.server?.node || 'server'}`, 'live');
    // Resume every room with the last seq seen: nothing is missed.
    for (const lot of S.joined) request('join', { lot, since: S.seq.get(lot) || 0 }).catch(say);
    emit({ type: 'wallet', wallet: S.wallet });
    emit({ type: 'live' }); // views that watch something ask again
    return;
  }
  if (f.type === 'reply') {
    const p = S.pending.get(f.re);
    if (p) { S.pending.delete(f.re); f.ok ? p.resolve(f.result) : p.reject(f.error); }
    return;
  }
  if (f.type === 'batch') {
    for (const ev of f.events || []) applyEvent({ ...ev, type: 'event', lot: ev.lot || f.lot });
    const skipped = f.suppressed?.chat || 0; // reactions left out only lower the live count
    if (skipped > 0) emit({ type: 'suppressed', lot: f.lot, count: skipped });
    return;
  }
  if (f.type === 'event') { applyEvent(f); return; }
  if (f.type === 'wallet' && !setWallet(f.wallet)) return;
  emit(f);
}

// applyEvent takes one event object (alone or out of a batch).
export function applyEvent(ev) {
  if (ev.seq) S.seq.set(ev.lot, Math.max(S.seq.get(ev.lot) || 0, ev.seq));
  emit(ev);
}

function emit(f) { for (const l of S.listeners) l(f); }
export const listen = (fn) => { S.listeners.add(fn); return () => S.listeners.delete(fn); };

// request sends one command and resolves with its result. Sent while the
// connection is (re)opening, it waits for the welcome (up to 8 s).
export async function request(type, fields = {}) {
  if (!connected()) await ready(8000);
  return new Promise((resolve, reject) => {
    if (!connected()) return reject({ code: 'busy', message: 'Not connected yet — try again in a moment.' });
    const id = `${S.prefix}-${++S.next}`;
    S.pending.set(id, { resolve, reject });
    S.ws.send(JSON.stringify({ type, id, ...fields }));
  });
}
const connected = () => S.ws && S.ws.readyState === 1 && S.welcome;
const ready = (ms) => new Promise((resolve) => {
  const off = listen((f) => { if (f.type === 'live') { off(); clearTimeout(t); resolve(); } });
  const t = setTimeout(() => { off(); resolve(); }, ms);
});

// idempotencyID names one user action for HTTP retries.
export const idempotencyID = () => `${S.prefix}-${Date.now().toString(36)}-${++S.next}`;

// lotTitle reads a lot's title once (for entries that name only its id).
export async function lotTitle(id) {
  if (!titles.has(id)) {
    const { lot } = await api(`/api/lots/${id}`);
    titles.set(id, lot.title);
  }
  return titles.get(id);
}

// relogin signs in again (after a role change) and reconnects.
export async function relogin() {
  await login();
  const old = S.ws; S.ws = null; S.welcome = null; old?.close();
  connect();
}
