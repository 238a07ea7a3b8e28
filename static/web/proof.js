// The proof console: races real WebSocket sessions against this server and
// checks every invariant from what they saw.
import { el, api, say } from './core.js';

export function proofView(view) {
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
          el('table', { class: 'facts-table' }, el('tbody', {},
            [['Succeeded', r.check.succeeded], ['Rejected', Object.entries(r.check.rejected).map(([c, v]) => `${c} ${v}`).join(', ') || '0'],
              ['Unknown outcome', r.check.info], ['Sold', r.check.sold], ['Duration', `${r.duration_ms.toFixed(1)} ms`],
              ['Latency p50 / p99', `${r.latency_ms.p50.toFixed(1)} / ${r.latency_ms.p99.toFixed(1)} ms`], ['OCC retries', r.occ_retries],
              ['Ledger', backend[r.backends.ledger] || r.backends.ledger], ['Firehose', r.backends.firehose],
              ['Nodes', (r.nodes || []).map((x) => `${x.url} (${x.commits} commits, ${x.occ_retries} OCC retries)`).join(' · ')]]
              .map(([a, b]) => el('tr', {}, el('th', {}, a), el('td', { 'data-k': a }, String(b)))))),
          el('h2', {}, 'By Region'),
          el('div', { class: 'bars' }, regions.map(([reg, c]) => el('div', { class: 'bar-row' }, el('span', { class: 'bar-name' }, reg),
            el('span', { class: 'bar-track' }, el('span', { class: 'bar', style: `width:${Math.round(100 * (c.ok + c.rejected + c.info) / most)}%` })),
            el('span', { class: 'bar-note' }, `${c.ok} ok · ${c.rejected} rejected`)))),
          el('p', {}, 'Lots of this run (kept out of the lobby): ', ...(r.lots || []).slice(0, 5).flatMap((id, i) => [i ? ' · ' : '', el('a', { href: `#/lot/${id}` }, id.slice(0, 8))])),
          ...(r.check.violations || []).map((v) => el('p', { class: 'notice' }, v)));
        await drawRuns();
      } catch (err) { out.replaceChildren(); say(err); } finally { run.disabled = false; }
    } }, el('label', {}, 'Scenario', scenario), el('label', {}, 'N', n), el('label', {}, 'K', k), run),
    out, el('h2', {}, 'Last runs'), runs);
  drawRuns().catch(() => {});
  return () => {};
}

