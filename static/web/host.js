// The host page: create English, Dutch and drop lots with every option
// POST /api/lots takes, and see one's lots live (bids, units sold,
// watchers, proceeds) with the open, tick and close commands — the same
// WebSocket commands a host's bot sends.
import { el, money, cents, plural, duration, secondsTo, api, request, notice, say, words, titles, S, isHost, relogin, idempotencyID, confirmTwice } from './core.js';
import { KIND, STATUS } from './words.js';

// field is a labelled input with an optional hint; name is its form name.
const field = (label, name, attrs = {}, hint = '') => el('label', { class: 'field' }, label,
  el('input', { name, id: `f-${name}`, autocomplete: 'off', ...attrs }), hint ? el('span', { class: 'hint' }, hint) : null);
const dollars = (label, name, attrs = {}, hint = '') => field(label, name, { inputmode: 'decimal', placeholder: '0.00', ...attrs }, hint);
const whole = (label, name, attrs = {}, hint = '') => field(label, name, { type: 'number', inputmode: 'numeric', min: 1, step: 1, ...attrs }, hint);

// FIELDS names the API's lot fields as the form labels them, with the form
// input (by kind where the kinds differ).
const FIELDS = {
  title: ['Title', 'title'], start_price: { english: ['Opening bid', 'start_price'], dutch: ['Start price', 'd_start_price'] },
  reserve: ['Reserve', 'reserve'], duration_s: ['Runs for', 'duration_m'], extension_s: ['Soft close', 'extension_s'],
  hard_end_s: ['Hard end', 'hard_end_m'], floor_price: ['Floor price', 'floor_price'], step: ['Drops by', 'step'],
  interval_ms: ['Every', 'interval_s'], qty: { dutch: ['Units', 'd_qty'], drop: ['Units', 'qty'] }, floor_action: ['At the floor', 'floor_action'],
  price: ['Price', 'price'], per_user_limit: ['Limit per person', 'per_user_limit'],
};
const fieldOf = (kind, f) => {
  const x = FIELDS[f];
  if (!x) return [f.replace(/_/g, ' '), null];
  return Array.isArray(x) ? x : x[kind] || Object.values(x)[0];
};

function createForm(onCreated) {
  let kind = 'english';
  const title = field('Title', 'title', { required: true, maxlength: 200, placeholder: 'What are you selling?' });
  const groups = {
    english: el('fieldset', { class: 'fields', 'data-kind': 'english' }, el('legend', {}, 'English auction: bids rise until the clock runs out'),
      dollars('Opening bid ($)', 'start_price', { required: true, value: '10.00' }),
      dollars('Reserve ($)', 'reserve', {}, 'optional, hidden; no sale below it'),
      whole('Runs for (minutes)', 'duration_m', { value: 10 }),
      whole('Soft close (seconds)', 'extension_s', { value: 30 }, 'a bid this close to the end moves the end this far out'),
      whole('Hard end (minutes)', 'hard_end_m', { min: 0 }, 'optional: minutes after opening, at least Runs for')),
    dutch: el('fieldset', { class: 'fields', 'data-kind': 'dutch', hidden: true }, el('legend', {}, 'Dutch auction: the price drops until someone claims'),
      dollars('Start price ($)', 'd_start_price', { value: '200.00' }),
      dollars('Floor price ($)', 'floor_price', { value: '50.00' }),
      dollars('Drops by ($)', 'step', { value: '5.00' }),
      whole('Every (seconds)', 'interval_s', { value: 10 }),
      whole('Units', 'd_qty', { value: 5 }),
      el('label', { class: 'field' }, 'At the floor', el('select', { name: 'floor_action', id: 'f-floor_action' },
        el('option', { value: 'close' }, 'close the lot'), el('option', { value: 'hold' }, 'hold the floor price until sold')))),
    drop: el('fieldset', { class: 'fields', 'data-kind': 'drop', hidden: true }, el('legend', {}, 'Drop: a fixed price, first come first served'),
      dollars('Price ($)', 'price', { value: '25.00' }),
      whole('Units', 'qty', { value: 100 }),
      whole('Limit per person', 'per_user_limit', { min: 0 }, 'optional')),
  };
  // Real radio inputs: arrow keys move between the kinds.
  const kinds = el('div', { class: 'chips', role: 'radiogroup', 'aria-label': 'Kind of lot' }, Object.keys(groups).map((k) =>
    el('label', { class: 'chip', 'data-kind': k }, el('input', { type: 'radio', name: 'kind', value: k, checked: k === kind, onchange: () => pick(k) }), KIND[k])));
  const pick = (k) => {
    kind = k;
    for (const [g, node] of Object.entries(groups)) node.hidden = g !== k;
  };
  const openNow = el('input', { type: 'checkbox', id: 'f-open', name: 'open', checked: true });
  const unlisted = el('input', { type: 'checkbox', id: 'f-unlisted', name: 'unlisted' });
  const submit = el('button', { id: 'create' }, 'Create lot');
  // A refusal is said beside the button (in sight on a phone), naming the
  // form's field when the server's message names its API field.
  const problem = el('p', { id: 'create-problem', class: 'bad-text', role: 'alert', hidden: true });
  const refuse = (text, name = null) => {
    for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
    problem.textContent = text; problem.hidden = !text;
    const input = name && form.elements[name];
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  };
  const form = el('form', { class: 'card host-form', id: 'create-form', 'aria-labelledby': 'create-h', onsubmit: async (e) => {
    e.preventDefault();
    const v = (n) => form.elements[n]?.value?.trim() || '';
    const num = (n) => (v(n) === '' ? 0 : parseInt(v(n), 10));
    const amt = (n) => (v(n) === '' ? 0 : cents(v(n)));
    let body;
    if (kind === 'english') {
      body = { kind, title: v('title'), start_price: amt('start_price'), duration_s: num('duration_m') * 60, extension_s: num('extension_s') };
      if (amt('reserve')) body.reserve = amt('reserve');
      if (num('hard_end_m')) body.hard_end_s = num('hard_end_m') * 60;
    } else if (kind === 'dutch') {
      body = { kind, title: v('title'), start_price: amt('d_start_price'), floor_price: amt('floor_price'), step: amt('step'),
        interval_ms: num('interval_s') * 1000, qty: num('d_qty'), floor_action: v('floor_action') };
    } else {
      body = { kind, title: v('title'), price: amt('price'), qty: num('qty') };
      if (num('per_user_limit')) body.per_user_limit = num('per_user_limit');
    }
    const bad = Object.entries(body).find(([, x]) => typeof x === 'number' && !Number.isFinite(x));
    if (bad) { const [label, name] = fieldOf(kind, bad[0]); refuse(`Check “${label}”: it must be a number.`, name); return; }
    refuse('');
    if (!openNow.checked) body.open = false;
    if (unlisted.checked) body.unlisted = true;
    body.region = S.region;
    submit.disabled = true;
    try {
      const { lot } = await api('/api/lots', body, { 'Idempotency-Key': idempotencyID() });
      titles.set(lot.id, lot.title);
      notice(`Created “${lot.title}”${lot.status === 'scheduled' ? ' — open it when you are ready' : ' — it is live'}.`, true,
        el('a', { href: `#/lot/${lot.id}`, class: 'notice-action' }, 'Go to the lot'));
      form.elements.title.value = '';
      onCreated(lot);
    } catch (err) {
      // The first API field the server's message names is the one to fix.
      const raw = err?.code === 'bad_request' && typeof err.message === 'string' ? err.message : '';
      const names = Object.keys(FIELDS).filter((f) => f !== 'price' || kind === 'drop');
      const hit = names.map((f) => [f, raw.search(new RegExp(`\\b${f}\\b`))]).filter(([, i]) => i >= 0).sort((x, y) => x[1] - y[1])[0]?.[0];
      const said = raw.replace(/\b[a-z]+(?:_[a-z]+)+\b|\b(?:title|reserve|step|qty)\b/g, (f) => (FIELDS[f] ? `“${fieldOf(kind, f)[0]}”` : f));
      refuse(hit ? `Check “${fieldOf(kind, hit)[0]}”: ${said}.` : words(err), hit ? fieldOf(kind, hit)[1] : null);
    } finally { submit.disabled = false; }
  } },
  el('h2', { id: 'create-h' }, 'New lot'), kinds, title, ...Object.values(groups),
  el('div', { class: 'checks' },
    el('label', { class: 'check' }, openNow, 'Open now (untick to schedule: it waits for you to open it)'),
    el('label', { class: 'check' }, unlisted, 'Unlisted: only people with the link find it')),
  el('div', { class: 'row' }, submit), problem);
  return form;
}

// A hosted lot's line, kept across reads so a focused button stays put.
function hostedLine() {
  const link = el('a', {});
  const status = el('span', { class: 'pill' });
  const stats = el('dl', { class: 'facts' });
  const cmd = (name, text, cls = 'secondary') => el('button', { type: 'button', class: `${cls} small`, 'data-cmd': name }, text);
  const buttons = { open: cmd('open', 'Open'), tick: cmd('tick', 'Drop the price'), close: cmd('close', 'Close', 'secondary danger') };
  let resetClose = () => {};
  const node = el('li', { class: 'hosted' }, el('div', { class: 'hosted-head' }, el('h3', {}, link), status), stats,
    el('div', { class: 'row' }, Object.values(buttons)));
  let current = null;
  for (const [name, b] of Object.entries(buttons)) {
    const go = () => {
      const l = current;
      const fields = name === 'tick' ? { lot: l.id, step: l.step_index } : { lot: l.id };
      request(name, fields).then(() => notice({ open: `“${l.title}” is open.`, tick: `“${l.title}”: price dropped.`, close: `“${l.title}” is closed.` }[name], true)).catch(say);
    };
    // Closing cannot be undone: it asks once more.
    if (name === 'close') resetClose = confirmTwice(b, 'Close', () => current?.title || 'this lot', go);
    else b.onclick = go;
  }
  const update = (h) => {
    const l = h.lot;
    current = l;
    node.dataset.lot = l.id;
    link.href = `#/lot/${l.id}`;
    if (link.textContent !== l.title) { link.textContent = l.title; if (!buttons.close.dataset.armed) resetClose(); }
    status.textContent = STATUS[l.status] || l.status;
    status.className = `pill ${l.status}`;
    const sold = `${l.qty_claimed} of ${l.qty_total}`;
    const facts = l.kind === 'english'
      ? [['High bid', l.high_bid ? money(l.high_bid) : 'none yet'], ['Bids', String(l.bid_count)],
        [l.status === 'open' ? 'Ends in' : 'Status', l.status === 'open' ? duration(secondsTo(l.ends_at)) : STATUS[l.status]],
        ['Proceeds', l.status === 'settled' ? money(h.proceeds) : 'at the close']]
      : [['Price', money(l.price)], ['Sold', sold], ['Proceeds', money(h.proceeds)]];
    facts.splice(1, 0, ['Kind', KIND[l.kind]]);
    facts.push(['Watching', String(l.watchers || 0)]);
    stats.replaceChildren(...facts.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
    const ended = l.status === 'closed' || l.status === 'settled';
    buttons.open.hidden = l.status !== 'scheduled';
    buttons.tick.hidden = !(l.kind === 'dutch' && l.status === 'open' && l.next_tick_at);
    buttons.close.hidden = ended;
  };
  return { node, update };
}

export async function hostView(view) {
  if (!isHost()) {
    const become = el('button', { type: 'button', id: 'become-host', onclick: async () => {
      localStorage.setItem(`lz-host-${S.user}`, '1');
      await relogin().catch(say);
      dispatchEvent(new HashChangeEvent('hashchange'));
    } }, `Host as ${S.user}`);
    view.replaceChildren(el('h1', {}, 'Host'), el('section', { class: 'card' },
      el('p', {}, 'Hosting lots needs the host role.'),
      S.config.demo && !S.givenToken ? el('p', {}, 'In this demo anyone may host: ', become)
        : el('p', { class: 'muted' }, 'Ask an operator for a host token (lotzero token --role host).')));
    return () => {};
  }
  const lines = new Map();
  const list = el('ul', { class: 'hosted-list', id: 'hosted', 'aria-label': 'Your lots' });
  const emptyText = el('p', { class: 'muted' }, 'No lots yet: create one.');
  const totals = el('p', { class: 'muted', id: 'host-totals' });
  const draw = async () => {
    const { hosting } = await api('/api/me/activity');
    emptyText.hidden = hosting.length > 0;
    const order = { open: 0, scheduled: 1, closed: 2, settled: 3 };
    hosting.reverse(); // newest first within each status
    hosting.sort((a, b) => (order[a.lot.status] ?? 9) - (order[b.lot.status] ?? 9));
    const nodes = hosting.map((h) => {
      let line = lines.get(h.lot.id);
      if (!line) { line = hostedLine(); lines.set(h.lot.id, line); }
      line.update(h);
      return line.node;
    });
    nodes.forEach((n, i) => { if (list.children[i] !== n) list.insertBefore(n, list.children[i] || null); });
    while (list.children.length > nodes.length) list.lastChild.remove();
    const live = hosting.filter((h) => h.lot.status === 'open').length;
    const took = hosting.reduce((s, h) => s + h.proceeds, 0);
    totals.textContent = `${plural(hosting.length, 'lot')} · ${live} live · ${money(took)} taken`;
  };
  view.replaceChildren(el('div', { class: 'page-head' }, el('h1', {}, 'Host'), el('p', { class: 'muted' }, `Create and run lots as ${S.user}.`)),
    el('div', { class: 'host-grid' }, createForm(() => draw().catch(say)),
      el('section', { class: 'card', 'aria-labelledby': 'yours-h' }, el('h2', { id: 'yours-h' }, 'Your lots'), totals, emptyText, list)));
  await draw();
  const t = setInterval(() => draw().catch(() => {}), 1500);
  return () => clearInterval(t);
}
