// The wallet: balances, adding funds (a demo deposit, or a card top-up
// when the server takes cards), paying out proceeds (hosts), and the
// wallet's entries in words.
import { el, money, cents, api, listen, notice, words, S, isHost, idempotencyID, lotTitle } from './core.js';

// What each entry kind did, and which way it moved the available balance.
const ENTRY = {
  deposit: ['Added funds', +1], topup: ['Card top-up', +1], operator_credit: ['Credit from LotZero', +1],
  hold: ['Held for your leading bid', -1], release: ['Hold released', +1], capture: ['Paid from the hold for a lot you won', 0],
  spend: ['Bought', -1], credit: ['Proceeds of a sale', +1],
  // Money out: a refund or dispute is first owed, then taken (debit) from
  // what is available; a payout is held when asked, then paid or released.
  refund: ['Card payment refunded — to be taken from your balance', 0], dispute: ['Card payment disputed — to be taken from your balance', 0],
  debit: ['Taken back for a refund or dispute', -1], debit_earned: ['Taken back from your proceeds', -1],
  dispute_reversal: ['Dispute settled in your favour', +1],
  payout_hold: ['Set aside for a payout', -1], payout: ['Paid out to your bank', 0], payout_release: ['Payout failed — money back', +1],
};

const signed = (amount, dir) => (dir > 0 ? `+${money(amount)}` : dir < 0 ? `−${money(amount)}` : money(amount));

// A payout the ledger cancelled to cover a refund or dispute (not one that
// failed at the bank) has a reason that says so.
const coveredDebt = (p) => p.status === 'failed' && /^released:/.test(p.reason || '');

// entryLine says one entry; cancelled lists the payouts cancelled for a
// debt, to tell their payout_release from a failed payout's.
function entryLine(e, cancelled = []) {
  let [what, dir] = ENTRY[e.kind] || [e.kind.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()), 0];
  if (e.kind === 'payout_release' && cancelled.some((p) => p.amount === e.amount && Math.abs(Date.parse(p.settled_at) - Date.parse(e.at)) < 5000)) {
    what = 'Payout cancelled to cover a refund or dispute';
  }
  const lot = e.lot ? el('a', { href: `#/lot/${e.lot}` }, 'a lot') : null;
  if (lot) lotTitle(e.lot).then((t) => { lot.textContent = t; }).catch(() => {});
  return el('li', { class: 'entry', 'data-kind': e.kind },
    el('div', { class: 'grow' }, el('div', {}, what, lot ? [' · ', lot] : null),
      el('div', { class: 'muted small' }, `${new Date(e.at).toLocaleString()} · from ${e.region}`)),
    el('div', { class: `amount ${dir > 0 ? 'in' : dir < 0 ? 'out' : ''}` }, signed(e.amount, dir)));
}

const stat = (label, id, value, note = '') => el('div', { class: 'card stat' }, el('div', { class: 'muted small' }, label),
  el('div', { class: 'stat-value', id }, value), note ? el('div', { class: 'muted small' }, note) : null);

function addFunds() {
  const amount = el('input', { id: 'fund-amount', inputmode: 'decimal', value: '100.00', autocomplete: 'off' });
  const out = el('div', { id: 'fund-result', role: 'status', 'aria-live': 'polite' });
  const go = el('button', { id: 'add-funds' }, 'Add funds');
  const card = S.config.card_topups && !S.config.demo;
  return el('form', { class: 'card', 'aria-labelledby': 'fund-h', onsubmit: async (e) => {
    e.preventDefault();
    const c = cents(amount.value);
    if (!(c > 0)) { notice('Type an amount in dollars, like 50.00.'); return; }
    go.disabled = true;
    try {
      if (card) {
        const r = await api('/api/wallet/topup', { amount: c }, { 'Idempotency-Key': idempotencyID() });
        out.replaceChildren(el('p', { class: 'good-text' }, `Card payment of ${money(r.amount)} started (${r.payment_intent}).`),
          el('p', { class: 'muted small' }, 'Complete it with the card form; your wallet is credited when the card network confirms. Client secret received: ',
            el('code', {}, `${String(r.client_secret).slice(0, 12)}…`)));
      } else {
        await api('/api/wallet/deposit', { amount: c }, { 'Idempotency-Key': idempotencyID() });
        out.replaceChildren(el('p', { class: 'good-text' }, `Added ${money(c)} to your wallet.`));
      }
    } catch (err) {
      out.replaceChildren(el('p', { class: 'bad-text' }, err.status === 404 || (err.code === 'forbidden' && !/frozen/.test(err.message || ''))
        ? 'Adding funds is not available on this server.' : words(err)));
    } finally { go.disabled = false; }
  } }, el('h2', { id: 'fund-h' }, 'Add funds'),
  el('p', { class: 'muted small' }, card ? 'Pay by card: the money arrives once the payment is confirmed.' : 'Demo money: it arrives at once.'),
  el('div', { class: 'row' }, el('label', {}, 'Amount ($)', amount), go), out);
}

const PAYOUT = { pending: 'on its way', paid: 'paid', failed: 'failed — the money is back in your wallet' };
const payoutWord = (p) => (coveredDebt(p) ? 'cancelled to cover a refund or dispute' : PAYOUT[p.status] || p.status);
// payable is what a payout may ask: earnings not already being paid out,
// and no more than is available.
const payable = (w) => Math.max(0, Math.min((w?.earned || 0) - (w?.payout_pending || 0), w?.available || 0));

function payOut(wallet) {
  const amount = el('input', { id: 'payout-amount', inputmode: 'decimal', autocomplete: 'off', placeholder: '0.00' });
  const out = el('div', { id: 'payout-result', role: 'status', 'aria-live': 'polite' });
  const history = el('ul', { class: 'entries', id: 'payouts', 'aria-label': 'Payouts' });
  const go = el('button', { id: 'pay-out' }, 'Pay out');
  const drawHistory = () => api('/api/wallet/payouts').then(({ payouts }) => {
    history.replaceChildren(...(payouts || []).map((p) => el('li', { class: 'entry' },
      el('div', { class: 'grow' }, `Payout · ${payoutWord(p)}`), el('div', { class: 'amount out' }, money(p.amount)))));
  }).catch(() => history.replaceChildren());
  drawHistory();
  return el('form', { class: 'card', 'aria-labelledby': 'payout-h', onsubmit: async (e) => {
    e.preventDefault();
    const c = cents(amount.value);
    if (!(c > 0)) { notice('Type an amount in dollars, like 50.00.'); return; }
    go.disabled = true;
    try {
      const r = await api('/api/wallet/payout', { amount: c, id: idempotencyID() });
      out.replaceChildren(el('p', { class: r.payout.status === 'failed' ? 'bad-text' : 'good-text' }, `Payout of ${money(r.payout.amount)}: ${payoutWord(r.payout)}.`));
      drawHistory();
    } catch (err) {
      out.replaceChildren(el('p', { class: 'bad-text' }, err.status === 404 ? 'Payouts are not available on this server yet.'
        : err.code === 'insufficient_funds' ? `You can pay out up to ${money(payable(wallet()))}.` : words(err)));
    } finally { go.disabled = false; }
  } }, el('h2', { id: 'payout-h' }, 'Pay out'),
  el('p', { class: 'muted small' }, 'Send your sale proceeds to your bank account.'),
  el('div', { class: 'row' }, el('label', {}, 'Amount ($)', amount), go), out, history);
}

export async function walletView(view) {
  const stats = el('div', { class: 'stats' });
  // Any deposit, top-up or credit pays the debt first and unfreezes the
  // wallet (ledger/README.md).
  const frozen = el('p', { class: 'notice', id: 'frozen', role: 'alert', hidden: true });
  const entries = el('ul', { class: 'entries', id: 'entries', 'aria-label': 'Recent entries' });
  let w = null;
  view.replaceChildren(el('div', { class: 'page-head' }, el('h1', {}, `${S.user}’s wallet`)), frozen, stats,
    el('div', { class: 'wallet-grid' }, el('section', { class: 'card', 'aria-labelledby': 'entries-h' }, el('h2', { id: 'entries-h' }, 'Recent entries'), entries),
      el('div', { class: 'stack' }, addFunds(), isHost() ? payOut(() => w) : null)));
  const drawFrozen = () => {
    // The pushed wallet says at once (and may be newer than the read).
    const pushed = S.wallet && (!w || (S.wallet.version || 0) >= (w.version || 0)) ? S.wallet : w;
    frozen.hidden = !pushed?.frozen;
    const text = `Your wallet is frozen. You owe ${money(pushed?.owed || 0)} after a card refund or dispute; add funds to clear it. Until then you cannot bid, buy or pay out.`;
    if (frozen.textContent !== text) frozen.textContent = text;
  };
  let shown = '';
  const draw = async () => {
    const [{ wallet, entries: list }, payouts] = await Promise.all([api('/api/wallet'),
      isHost() ? api('/api/wallet/payouts').then((r) => r.payouts || []).catch(() => []) : []]);
    // A pushed wallet newer than the read is the one to show.
    w = S.wallet && (S.wallet.version || 0) > (wallet.version || 0) ? S.wallet : wallet;
    drawFrozen();
    const pending = w.payout_pending || 0;
    const cards = [
      ['Available', 'available', money(w.available), 'to bid and buy with'],
      ['Held for your leading bids', 'wallet-held', money(w.held - pending), 'released if you are outbid'],
      pending || isHost() ? ['Being paid out', 'wallet-paying', money(pending), 'on its way to your bank'] : null,
      w.owed ? ['Owed', 'wallet-owed', money(w.owed), 'after a card refund or dispute'] : null,
      ['Spent', 'wallet-spent', money(w.spent)],
      ['Earned from sales', 'wallet-earned', money(w.earned)],
      ['Total', 'wallet-total', money(w.available + w.held)]].filter(Boolean);
    // Redraw only what changed: a wallet frame that changes nothing here
    // keeps the links (and the keyboard focus) where they are.
    const key = JSON.stringify([cards, list.map((e) => e.id || `${e.kind}${e.at}${e.amount}`), payouts.filter(coveredDebt).map((p) => p.id)]);
    if (key === shown) return;
    shown = key;
    stats.replaceChildren(...cards.map((c) => stat(...c)));
    const cancelled = payouts.filter(coveredDebt);
    entries.replaceChildren(...(list.length ? list.map((e) => entryLine(e, cancelled)) : [el('li', { class: 'muted' }, 'No entries yet.')]));
  };
  await draw();
  return listen((f) => {
    if (f.type !== 'wallet') return;
    drawFrozen(); // the push says at once; the read follows
    draw().catch(() => {});
  });
}
