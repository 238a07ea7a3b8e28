// One lot's room: the live price with its clock, where I stand (leading,
// outbid with a one-tap re-bid, won, bought), the action, the host's
// controls, the bid history and activity in sentences, and beside them who
// is here, reactions, chat and the lot's leaderboard.
import { el, $, money, cents, plural, duration, soonIn, secondsTo, clock, api, request, listen, notice, clearNotice, say, titles, S, isHost, confirmTwice } from './core.js';
import { boardPanel } from './board.js';
import { eventItem, KIND, STATUS } from './words.js';

const EMOJIS = ['👏', '🔥', '😮', '😂', '❤️', '💸', '🎉', '👀'];

export async function lotView(view, id) {
  let lot = (await api(`/api/lots/${id}`)).lot;
  titles.set(id, lot.title);
  // My part in this lot: from the ledger once, then from the events.
  const mine = { bid: false, bought: 0, paid: 0, prices: new Set() };
  const act0 = await api('/api/me/activity').catch(() => null);
  const part = act0?.lots?.find((a) => a.lot.id === id);
  if (part) Object.assign(mine, { bid: part.bids > 0, bought: part.bought, paid: part.paid });
  if (part?.bought) mine.prices.add(Math.round(part.paid / part.bought));
  // The activity read counted my purchases up to its snapshot's seq; each
  // later one is counted once, from its event — live, or replayed by the
  // join (a purchase made while the join was on its way arrives only so).
  const counted = part?.lot?.seq || 0;
  const myBuys = new Set();

  const board = boardPanel('Leaderboard for this lot');
  for (const w of ['recent', 'all']) api(`/api/leaderboard?lot=${id}&window=${w}`).then((r) => board.set(r.leaderboard)).catch(() => {});
  // Reaction totals on the buttons: from the join, then reactions frames.
  const totals = {};
  const reactButtons = EMOJIS.map((e) => el('button', { type: 'button', class: 'react-b', 'aria-label': `React ${e}`, 'data-emoji': e, onclick: () => request('react', { lot: id, emoji: e }).catch(say) },
    el('span', { 'aria-hidden': 'true' }, e), el('span', { class: 'count' })));
  const drawTotals = () => {
    for (const b of reactButtons) {
      const n = totals[b.dataset.emoji] || 0;
      b.querySelector('.count').textContent = n ? ` ${n}` : '';
      b.setAttribute('aria-label', `React ${b.dataset.emoji}${n ? ` (${plural(n, 'reaction')} so far)` : ''}`);
    }
  };
  // Chat lines and reactions are shown once each: the join sends the
  // room's chat history and a rejoin sends it again; social_seq names them.
  const social = new Set();
  const feed = el('ol', { class: 'feed', 'aria-label': 'Activity' });
  const bids = el('ol', { class: 'feed', id: 'bids', 'aria-label': 'Bid history' });
  const chat = el('ul', { class: 'feed chat', 'aria-label': 'Chat' });
  const people = el('ul', { class: 'people', 'aria-label': 'Present' });
  const skipped = el('p', { class: 'muted small', id: 'skipped', hidden: true });
  const panel = el('div', { class: 'stack' });
  // Names come from the join and the presence events (which name a few of
  // a crowd); the number is the server's count of everyone here.
  const present = new Map();
  let here = 0;
  const drawPeople = () => {
    people.replaceChildren(...[...present].slice(0, 100).map(([u, r]) => el('li', {}, u, el('span', { class: 'tag' }, r))));
    const h = view.querySelector('#here'); if (h) h.textContent = `Here now (${Math.max(here, present.size)})`;
  };
  const act = (p) => p.catch(say);
  let extendedUntil = 0;
  let lastPrice = lot.price;

  // The lot is kept current from the events themselves (they carry what the
  // page shows): no read per event, however many watch the room.
  const buyers = new Map(); // user -> { region, qty, price }, from the events seen
  const apply = (f) => {
    const d = f.data || {};
    if (f.kind === 'claimed' || f.kind === 'sold') {
      const b = buyers.get(d.buyer) || { region: d.buyer_region, qty: 0, price: d.price, seqs: new Set() };
      if (!b.seqs.has(f.seq)) { b.seqs.add(f.seq); b.qty += d.qty; b.price = d.price; }
      buyers.set(d.buyer, b);
    }
    if (f.kind === 'bid' && d.bidder === S.user) mine.bid = true;
    if ((f.kind === 'claimed' || f.kind === 'sold') && d.buyer === S.user && f.seq > counted && !myBuys.has(f.seq)) {
      myBuys.add(f.seq);
      mine.bought += d.qty; mine.paid += d.qty * d.price; mine.prices.add(d.price);
    }
    // A late bid's extension is news for 15 s after it, even when the
    // join's snapshot already holds its new end.
    if (f.kind === 'extended') extendedUntil = Math.max(extendedUntil, Math.min(Date.now(), Date.parse(f.at) || 0) + 15000);
    if (!(f.seq > lot.seq)) return; // already in the snapshot
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

  // The panel is built once; later changes update its text in place, so
  // what a shopper is typing is never wiped by a live event.
  // The bid box follows the minimum until the shopper types in it; a bid
  // that goes through hands it back to the minimum.
  let edited = false;
  const set = (sel, text) => { const n = panel.querySelector(sel); if (n && n.textContent !== text) n.textContent = text; };
  const show = (sel, on) => { const n = panel.querySelector(sel); if (n) n.hidden = !on; };
  const open = () => lot.status === 'open';
  const ended = () => lot.status === 'closed' || lot.status === 'settled';
  const out = () => lot.qty_claimed >= lot.qty_total;

  // result says how a closed lot ended, for everyone.
  function result() {
    if (lot.kind === 'english') {
      if (!ended()) return '';
      const winner = lot.winner || (lot.status === 'closed' && lot.reserve_met ? lot.high_bidder : null);
      if (winner) return `Won by ${winner}${lot.high_region ? ` (${lot.high_region})` : ''} at ${money(lot.winner ? lot.price || lot.high_bid : lot.high_bid)}`;
      return lot.status === 'settled' || !lot.high_bidder ? `Closed without a winner${lot.has_reserve && lot.high_bid ? ' — the reserve was not met' : ''}` : 'Closed — settling…';
    }
    if (!out() && !ended()) return '';
    const head = out() ? (lot.qty_total === 1 ? 'Sold out' : `Sold out — all ${lot.qty_total} gone`) : `Closed — ${lot.qty_claimed} of ${lot.qty_total} sold`;
    // Buyers come from the events this page saw (the join replays the
    // last 50), so they are the recent ones, not a count of everyone.
    const who = [...buyers].map(([u, b]) => `${u} bought ${b.qty} at ${money(b.price)}`);
    if (!who.length) return head;
    const all = [...buyers.values()].reduce((n, b) => n + b.qty, 0) === lot.qty_claimed;
    return all && who.length <= 3 ? `${head} · ${who.join(', ')}` : `${head} · recent buyers: ${who.slice(-3).reverse().join(', ')}`;
  }

  // standing says where I stand, with the re-bid when I was outbid.
  function standing() {
    if (lot.kind === 'english') {
      if (!mine.bid || lot.status === 'scheduled') return ['', ''];
      const lead = lot.high_bidder === S.user;
      if (ended()) {
        const won = lot.winner === S.user || (lot.status === 'closed' && lead && lot.reserve_met);
        return won ? ['good', `You won at ${money(lot.winner ? lot.price || lot.high_bid : lot.high_bid)}`] : ['', 'You did not win this one'];
      }
      return lead ? ['good', `You lead at ${money(lot.high_bid)}`] : ['bad', `You were outbid — bid ${money(lot.min_next_bid)} to lead again`];
    }
    if (!mine.bought) return ['', ''];
    const verb = lot.kind === 'dutch' ? 'claimed' : 'bought';
    const one = mine.prices.size === 1 ? ` at ${money([...mine.prices][0])}` : ` for ${money(mine.paid)}`;
    return ['good', `You ${verb} ${mine.bought}${one}`];
  }

  function draw() {
    set('#status', STATUS[lot.status] || lot.status);
    panel.querySelector('#status').className = `pill ${lot.status}`;
    set('#result', result());
    show('#result', !!result());
    const [cls, text] = standing();
    const st = panel.querySelector('#standing');
    if (st.dataset.text !== text) {
      st.dataset.text = text;
      st.className = `standing ${cls}`;
      st.hidden = !text;
      st.replaceChildren(...[el('span', {}, text),
        cls === 'bad' && open() ? el('button', { id: 'rebid', type: 'button', onclick: () => act(request('bid', { lot: id, amount: lot.min_next_bid })
          .then((r) => notice(r.high ? `You lead at ${money(r.amount)}.` : 'A proxy bid answered yours at once; raise your maximum.', r.high))) }, `Bid ${money(lot.min_next_bid)}`) : null].filter(Boolean));
    }
    for (const b of panel.querySelectorAll('.host-controls button')) b.disabled = !({ open: lot.status === 'scheduled', close: !ended(), tick: open() && lot.kind === 'dutch' && !!lot.next_tick_at }[b.dataset.cmd]);
    if (lot.kind === 'english') {
      set('#high', money(lot.high_bid || lot.start_price));
      set('#high-label', ended() ? (lot.high_bid ? 'Final bid' : 'Opening bid') : lot.high_bid ? 'High bid' : 'Opening bid');
      set('#leader', lot.high_bidder ? `High bidder ${lot.high_bidder} from ${lot.high_region}${lot.has_reserve ? (lot.reserve_met ? ' · reserve met' : ' · reserve not met') : ''}`
        : `No bids yet — bidding opens at ${money(lot.start_price)}`);
      const amount = panel.querySelector('#amount');
      if (!edited || amount.value === '') { amount.value = (lot.min_next_bid / 100).toFixed(2); edited = false; }
      set('#min', `Minimum ${money(lot.min_next_bid)}`);
      panel.querySelector('#bid').disabled = !open();
      tickClock();
    } else if (lot.kind === 'dutch') {
      const price = panel.querySelector('#price');
      set('#price', money(lot.price));
      set('#price-label', ended() ? 'Final price' : lot.status === 'scheduled' ? 'Starting price' : 'Price now');
      if (lot.price !== lastPrice) {
        price.classList.remove('dropped'); void price.offsetWidth; price.classList.add('dropped');
        set('#price-live', `Price dropped to ${money(lot.price)}`);
        lastPrice = lot.price;
      }
      set('#units', out() ? `None of ${lot.qty_total} left` : `${lot.qty_total - lot.qty_claimed} of ${lot.qty_total} left · floor ${money(lot.floor_price)}`);
      const claim = panel.querySelector('#claim');
      claim.disabled = !open() || out();
      claim.textContent = out() ? 'None left' : `Claim now at ${money(lot.price)}`;
      const steps = [];
      for (let i = 1, p = lot.price - lot.step; i <= 5 && p >= lot.floor_price; i++, p -= lot.step) {
        steps.push(el('li', {}, el('strong', {}, money(p)), lot.next_tick_at && open() ? ` at ${clock(new Date(Date.parse(lot.next_tick_at) + (i - 1) * lot.interval_ms).toISOString())}` : ''));
      }
      panel.querySelector('#steps').replaceChildren(...(steps.length ? steps : [el('li', { class: 'muted' }, 'No more steps: this is the floor price.')]));
      show('#steps-box', open() || lot.status === 'scheduled');
      show('.meter', open());
      tickClock();
    } else {
      set('#units', out() ? `None of ${lot.qty_total} left` : `${lot.qty_total - lot.qty_claimed} of ${lot.qty_total} left${lot.per_user_limit ? ` · limit ${lot.per_user_limit} per person` : ''}`);
      // How many more I may buy: what is left, and my limit less what I bought.
      const more = canBuy();
      const qty = panel.querySelector('#qty');
      // The field keeps what the shopper typed (a live event never changes
      // a number under their finger): buying more than allowed is refused
      // with "You can buy N more", not silently cut down to N.
      qty.max = String(Math.max(1, more));
      set('#can-buy', !open() || out() ? '' : more > 0 ? `You can buy ${more} more` : `You have bought your limit of ${lot.per_user_limit}`);
      const buy = panel.querySelector('#buy');
      buy.disabled = out() || !open() || more <= 0;
      buy.textContent = out() ? 'None left' : 'Buy';
      show('.meter', !ended());
      const pct = lot.qty_total ? Math.round(100 * lot.qty_claimed / lot.qty_total) : 0;
      panel.querySelector('#stock').style.width = `${pct}%`;
    }
  }

  // tickClock runs every second: the English countdown, the Dutch clock
  // to the next price step.
  function tickClock() {
    if (lot.kind === 'english') {
      const s = secondsTo(lot.ends_at);
      set('#countdown', lot.status === 'scheduled' ? 'not open yet' : ended() ? `ended ${clock(lot.closed_at || lot.ends_at)}` : Number.isFinite(s) ? duration(s) : '—');
      set('#clock-label', ended() || lot.status === 'scheduled' ? 'Bidding' : 'Ends in');
      panel.querySelector('#countdown').classList.toggle('urgent', open() && s < 60);
      const ext = Date.now() < extendedUntil;
      show('#extended', ext);
      if (ext) set('#extended', `Extended — a late bid came in; it now ends at ${clock(lot.ends_at)}`);
    } else if (lot.kind === 'dutch') {
      const s = secondsTo(lot.next_tick_at);
      const nextPrice = Math.max(lot.floor_price, lot.price - lot.step);
      set('#next-drop', !open() ? (lot.status === 'scheduled' ? 'The clock starts when the host opens the lot' : 'Closed: the price no longer drops')
        : lot.next_tick_at ? `Next drop to ${money(nextPrice)} ${soonIn(s)}` : 'Holding at the floor price');
      const bar = panel.querySelector('#tick-bar');
      bar.style.width = open() && lot.next_tick_at ? `${Math.max(0, Math.min(100, 100 - 100 * (s * 1000) / lot.interval_ms))}%` : '0%';
    }
  }

  const canBuy = () => Math.max(0, Math.min(lot.per_user_limit ? lot.per_user_limit - mine.bought : Infinity, lot.qty_total - lot.qty_claimed));

  function build() {
    const hostHere = isHost() && S.user === lot.host;
    // The ledger refuses a host's bid or purchase on their own lot: the
    // host sees no bid, claim or buy form there.
    const own = S.user === lot.host;
    const closeB = el('button', { type: 'button', class: 'secondary danger', id: 'close', 'data-cmd': 'close' }, 'Close');
    confirmTwice(closeB, 'Close', () => lot.title, () => act(request('close', { lot: id })));
    const hostControls = hostHere ? el('div', { class: 'row host-controls', role: 'group', 'aria-label': 'Host controls' },
      el('button', { type: 'button', class: 'secondary', id: 'open', 'data-cmd': 'open', onclick: () => act(request('open', { lot: id })) }, 'Open'),
      lot.kind === 'dutch' ? el('button', { type: 'button', class: 'secondary', id: 'tick', 'data-cmd': 'tick', onclick: () => act(request('tick', { lot: id, step: lot.step_index })) }, 'Drop the price now') : null,
      closeB) : null;
    const ownNote = own ? el('p', { class: 'muted', id: 'own-lot' }, 'This is your lot: a host does not bid on or buy from their own lot.') : null;
    const head = el('div', { class: 'lot-head' }, el('span', { class: `tag kind-${lot.kind}` }, KIND[lot.kind]), el('span', { id: 'status', class: 'pill' }),
      el('span', { class: 'muted' }, `hosted by ${lot.host}`));
    const standingBox = el('div', { id: 'standing', class: 'standing', role: 'status', 'aria-live': 'polite', hidden: true });
    const resultBox = el('p', { id: 'result', class: 'result', role: 'status', hidden: true });
    let hero;
    let action;
    let below;
    if (lot.kind === 'english') {
      const amount = el('input', { id: 'amount', inputmode: 'decimal', autocomplete: 'off', 'aria-describedby': 'min', oninput: () => { edited = true; } });
      const max = el('input', { id: 'max', inputmode: 'decimal', autocomplete: 'off', placeholder: 'optional' });
      hero = el('div', { class: 'hero' },
        el('p', { class: 'muted small label', id: 'high-label' }),
        el('div', { class: 'big', id: 'high', 'aria-live': 'polite' }), el('p', { id: 'leader' }),
        el('p', { class: 'clock' }, el('span', { id: 'clock-label' }, 'Ends in'), ' ', el('strong', { id: 'countdown', 'aria-live': 'off' })),
        el('p', { id: 'extended', class: 'flash', role: 'status', hidden: true }),
        el('p', { class: 'muted small' }, lot.extension_s ? `Soft close: a bid in the last ${lot.extension_s}s moves the end to ${lot.extension_s}s after it.` : 'Bidding ends on time.',
          lot.hard_end_at ? ` It ends by ${new Date(lot.hard_end_at).toLocaleString()} at the latest.` : ''));
      action = el('form', { class: 'row action', hidden: own, onsubmit: (e) => {
        e.preventDefault();
        const f = { lot: id, amount: cents(amount.value) };
        if (!Number.isFinite(f.amount) || f.amount <= 0) { notice('Type your bid in dollars, like 12.50.'); return; }
        if (max.value) { f.max = cents(max.value); if (!Number.isFinite(f.max)) { notice('Type the proxy maximum in dollars, like 20.00.'); return; } }
        act(request('bid', f).then((r) => {
          edited = false;
          draw(); // the box shows the minimum again (the bid's event may already be here)
          notice(r.high ? `You lead at ${money(r.amount)}.` : 'A proxy bid answered yours at once; raise your maximum.', r.high);
        }));
      } },
      el('label', {}, 'Your bid ($)', amount, el('span', { id: 'min', class: 'hint' })),
      el('label', {}, 'Proxy maximum ($)', max, el('span', { class: 'hint' }, 'we bid for you up to this')),
      el('button', { id: 'bid' }, 'Place bid'));
      action = [action, el('p', { id: 'held', class: 'muted small', hidden: own }, heldText())];
      below = [el('h2', {}, 'Bids'), bids];
    } else if (lot.kind === 'dutch') {
      hero = el('div', { class: 'hero' },
        el('p', { class: 'muted small label', id: 'price-label' }, 'Price now'),
        el('div', { class: 'big', id: 'price' }), el('p', { id: 'price-live', class: 'sr', 'aria-live': 'polite' }),
        el('p', { class: 'clock', id: 'next-drop' }), el('div', { class: 'meter', 'aria-hidden': 'true' }, el('span', { id: 'tick-bar' })),
        el('p', { id: 'units' }));
      action = el('div', { class: 'row action', hidden: own }, el('button', { type: 'button', id: 'claim', onclick: () => act(request('claim', { lot: id, qty: 1 })
        .then((r) => notice(`You claimed ${r.qty} at ${money(r.price)}.`, true))) }, 'Claim now'));
      below = [el('div', { id: 'steps-box' }, el('h2', {}, 'Coming steps'), el('ol', { class: 'feed', id: 'steps' })), el('h2', {}, 'Activity'), feed];
    } else {
      const qty = el('input', { id: 'qty', type: 'number', min: 1, value: 1, inputmode: 'numeric', 'aria-describedby': 'can-buy' });
      hero = el('div', { class: 'hero' }, el('p', { class: 'muted small label' }, 'Price each'), el('div', { class: 'big' }, money(lot.price)),
        el('div', { class: 'meter', 'aria-hidden': 'true' }, el('span', { id: 'stock' })), el('p', { id: 'units', 'aria-live': 'polite' }));
      action = el('form', { class: 'row action', hidden: own, novalidate: true, onsubmit: (e) => {
        e.preventDefault();
        const n = parseInt(qty.value, 10);
        if (!(n > 0)) { notice('Choose how many to buy: 1 or more.'); return; }
        if (n > canBuy()) { notice(canBuy() > 0 ? `You can buy ${canBuy()} more.` : 'You cannot buy more of this lot.'); return; }
        act(request('buy', { lot: id, qty: n }).then((r) => notice(`You bought ${r.qty} at ${money(r.price)}.`, true)));
      } }, el('label', {}, 'Quantity', qty, el('span', { id: 'can-buy', class: 'hint' })), el('button', { id: 'buy' }, 'Buy'));
      below = [el('h2', {}, 'Activity'), feed];
    }
    if (lot.kind === 'english') below.push(el('h2', {}, 'Activity'), feed);
    panel.replaceChildren(el('section', { class: 'card lot-main', 'aria-label': 'The lot' }, head, hero, resultBox, standingBox, action, ownNote, hostControls),
      el('section', { class: 'card' }, ...below));
  }
  const heldText = () => `Held in your wallet: ${money(S.wallet?.held || 0)} · available ${money(S.wallet?.available || 0)}`;

  const text = el('input', { id: 'chat-text', maxlength: 500, autocomplete: 'off', placeholder: 'Say something' });
  view.replaceChildren(el('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, el('a', { href: '#/' }, '← All lots')),
    el('h1', {}, lot.title),
    el('div', { class: 'room' }, panel,
      el('aside', { 'aria-label': 'Room', class: 'stack' },
        el('section', { class: 'card' },
          el('h2', { id: 'here' }, 'Here now'), people,
          el('div', { class: 'react', role: 'group', 'aria-label': 'Reactions' }, reactButtons),
          el('h2', {}, 'Chat'), chat, skipped,
          el('form', { class: 'row chat-form', onsubmit: (e) => { e.preventDefault(); if (text.value.trim()) request('chat', { lot: id, text: text.value }).then((r) => { text.value = ''; if (r && r.broadcast === false) notice('The room is busy: your line was counted but not shown to everyone. Try again in a moment.'); }).catch(say); } },
            el('label', { class: 'grow' }, el('span', { class: 'sr' }, 'Chat message'), text), el('button', {}, 'Send'))),
        board.node)));
  build();
  draw();

  let skippedN = 0;
  const seen = new Set(); // ledger events in the feed, by seq
  const off = listen((f) => {
    if (f.type === 'wallet') { const h = $('#held'); if (h) h.textContent = heldText(); return; }
    // The standing box says it; a "You lead" notice from my bid is no longer true.
    if (f.type === 'outbid' && f.lot === id) { clearNotice(); draw(); return; }
    if (f.type === 'leaderboard' && f.lot === id) { board.set(f); return; }
    if (f.type === 'reactions' && f.lot === id) { Object.assign(totals, f.totals); drawTotals(); return; }
    if (f.type === 'suppressed' && f.lot === id) { skippedN += f.count; skipped.hidden = false; skipped.textContent = `${plural(skippedN, 'chat line')} skipped to keep up with the room.`; return; }
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
      if (f.kind === 'bid' && !seen.has(f.seq)) bids.prepend(el('li', {}, el('strong', {}, money(d.amount)), ` — ${d.bidder} (${d.bidder_region})`, d.proxy ? el('span', { class: 'tag' }, 'proxy') : null));
      if (!seen.has(f.seq)) { seen.add(f.seq); feed.prepend(eventItem(f)); }
      apply(f);
      draw();
    }
    while (chat.children.length > 200) chat.firstChild.remove();
    chat.scrollTop = chat.scrollHeight;
  });
  const tick = setInterval(tickClock, 1000);
  // The room's recent events come with the join (from the server's memory):
  // they fill the feeds; the snapshot in the reply is the lot's state.
  const joined = await request('join', { lot: id, since: Math.max(0, lot.seq - 50) }).catch((e) => { say(e); return null; });
  if (joined) {
    S.joined.add(id); // rejoined with since after a reconnect
    if (joined.lot.seq >= lot.seq) { lot = joined.lot; draw(); }
    for (const p of joined.presence || []) present.set(p.user, p.region);
    Object.assign(totals, joined.reactions || {});
    drawTotals();
    here = joined.lot.watchers;
    drawPeople();
  }
  return () => { off(); clearInterval(tick); S.joined.delete(id); request('leave', { lot: id }).catch(() => {}); };
}
