// A leaderboard panel (the last hour or all time, ranked by amount or by
// count), kept current by set(board) as frames arrive.
import { el, money, plural } from './core.js';

export function boardPanel(label) {
  const boards = {};
  let win = 'recent';
  let by = 'amount';
  const body = el('div', { class: 'board-body' });
  const tab = (w, text) => el('button', { type: 'button', class: 'secondary small', 'data-window': w, 'aria-pressed': String(w === win), onclick: () => { win = w; draw(); } }, text);
  const sortBy = el('select', { 'aria-label': 'Rank by', class: 'small', onchange: () => { by = sortBy.value; draw(); } },
    el('option', { value: 'amount' }, 'by amount'), el('option', { value: 'count' }, 'by count'));
  const tabs = el('div', { class: 'row tabs' }, tab('recent', 'Last hour'), tab('all', 'All time'), sortBy);
  const list = (title, lines, fmt) => [el('h3', {}, title), lines?.length
    ? el('ol', { class: 'ranks' }, lines.slice(0, 5).map((l, i) => el('li', {}, el('span', { class: 'rank' }, `${i + 1}`),
      el('strong', {}, l.user || l.region), ' ', el('span', { class: 'muted' }, fmt(l)))))
    : el('p', { class: 'muted' }, 'Nobody yet.')];
  function draw() {
    for (const b of tabs.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.window === win));
    const b = boards[win];
    if (!b) { body.replaceChildren(el('p', { class: 'muted' }, 'Loading…')); return; }
    const key = by === 'amount' ? 'by_amount' : 'by_count';
    body.replaceChildren(
      ...list('Top bidders', b.bidders?.[key], (l) => `${money(l.amount)} high · ${plural(l.count, 'bid')}`),
      ...list('Top buyers', b.buyers?.[key], (l) => `${money(l.amount)} spent · ${plural(l.count, 'unit')}`),
      ...list('Most active Regions', b.regions, (l) => `${plural(l.count, 'action')}${l.amount ? ` · ${money(l.amount)} spent` : ''}`));
  }
  const node = el('section', { class: 'card board', 'aria-label': label }, el('h2', {}, label), tabs, body);
  draw();
  return { node, set: (b) => { boards[b.window] = b; draw(); } };
}
