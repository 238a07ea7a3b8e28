// The proof console: races real WebSocket sessions against this server and
// checks every invariant from what they saw.
import { el, api, say, plural } from './core.js';

// A run's size in words, per scenario.
const SIZE = {
  oversell: (r) => `${plural(r.n, 'buyer')} for ${plural(r.k, 'unit')}`,
  'double-spend': (r) => `one wallet on ${plural(r.n, 'lot')}`,
  dutch: (r) => `${plural(r.n, 'claimer')} for ${plural(r.k, 'unit')}`,
  english: (r) => `${plural(r.n, 'proxy bidder')}`,
};
const SCENARIO = { oversell: 'Oversell', 'double-spend': 'Double spend', dutch: 'Dutch', english: 'English' };
// A refusal code in words (the proof counts them by code).
const refusal = (c) => ({ sold_out: 'sold out', bid_too_low: 'bid too low', insufficient_funds: 'not enough funds', limit_exceeded: 'over the limit',
  lot_closed: 'lot closed', lot_not_open: 'lot not open', price_changed: 'price changed', rate_limited: 'slowed down', busy: 'busy' }[c] || c.replace(/_/g, ' '));

export function proofView(view) {
  const scenario = el('select', { id: 'scenario' },
    el('option', { value: 'oversell' }, 'Oversell: N buyers, K units'),
    el('option', { value: 'double-spend' }, 'Double spend: N lots'),
    el('option', { value: 'dutch' }, 'Dutch: N claimers, K units'),
    el('option', { value: 'english' }, 'English: N proxy bidders'));
  const n = el('input', { id: 'n', type: 'number', min: 1, max: 2000, value: 200 });
  const k = el('input', { id: 'k', type: 'number', min: 1, value: 20 });
  const out = el('div', { id: 'proof-result', 'aria-live': 'polite' });
  const runs = el('ol', { class: 'feed', id: 'proof-runs', 'aria-label': 'Last runs' });
  const run = el('button', { id: 'run' }, 'Run the proof');
  const backend = { 'aurora-dsql': 'Aurora DSQL', postgres: 'PostgreSQL', 'embedded-postgres': 'PostgreSQL (embedded)' };
  const drawRuns = async () => {
    const { runs: list } = await api('/api/proof/runs');
    runs.replaceChildren(...list.map((r) => el('li', {},
      el('span', { class: `badge ${r.ok ? 'held' : 'violated'}` }, r.ok ? 'held' : 'VIOLATED'),
      ` ${SCENARIO[r.scenario] || r.scenario}: ${(SIZE[r.scenario] || SIZE.oversell)(r)} · oversells ${r.oversells} · double-spends ${r.double_spends} · ${r.duration_ms.toFixed(0)} ms · OCC retries ${r.occ_retries} · `,
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
          el('table', { class: 'facts-table' }, el('tbody', {},
            [['Succeeded', r.check.succeeded], ['Rejected', Object.entries(r.check.rejected).map(([c, v]) => `${v} ${refusal(c)}`).join(', ') || 'none'],
              ['Unknown outcome', r.check.info], ['Sold', r.check.sold], ['Duration', `${r.duration_ms.toFixed(1)} ms`],
              ['Latency p50 / p99', `${r.latency_ms.p50.toFixed(1)} / ${r.latency_ms.p99.toFixed(1)} ms`], ['OCC retries', r.occ_retries],
              ['Ledger', backend[r.backends.ledger] || r.backends.ledger], ['Firehose', r.backends.firehose],
              ['Nodes', (r.nodes || []).map((x) => `${x.url} (${x.commits} commits, ${x.occ_retries} OCC retries)`).join(' · ')]]
              .map(([a, b]) => el('tr', {}, el('th', {}, a), el('td', { 'data-k': a }, String(b)))))),
          el('h2', {}, 'By Region'),
          el('div', { class: 'bars' }, regions.map(([reg, c]) => el('div', { class: 'bar-row' }, el('span', { class: 'bar-name' }, reg),
            el('span', { class: 'bar-track', 'aria-hidden': 'true' },
              el('span', { class: 'bar ok', style: `width:${(100 * c.ok / most).toFixed(1)}%` }),
              el('span', { class: 'bar rejected', style: `width:${(100 * (c.rejected + c.info) / most).toFixed(1)}%` })),
            el('span', { class: 'bar-note' }, `${c.ok} ok · ${c.rejected} rejected`)))),
          el('p', {}, 'Lots of this run (kept out of the lobby): ', ...(r.lots || []).slice(0, 5).flatMap((id, i) => [i ? ' · ' : '', el('a', { href: `#/lot/${id}` }, id.slice(0, 8))])),
          ...(r.check.violations || []).map((v) => el('p', { class: 'notice' }, v)));
        await drawRuns();
      } catch (err) { out.replaceChildren(); say(err); } finally { run.disabled = false; }
    } }, el('label', { class: 'wide' }, 'Scenario', scenario), el('label', {}, 'Sessions racing (N)', n), el('label', {}, 'Units or lots (K)', k), run),
    out, el('h2', {}, 'Last runs'), runs);
  drawRuns().catch(() => {});
  return () => {};
}

