// Events said as sentences: no raw kinds anywhere on the pages.
import { el, money, plural, clock, titles } from './core.js';

const who = (u, r) => [el('strong', {}, u || 'someone'), r ? ` (${r})` : ''];
const units = (q) => (q === 1 ? '1' : `${q}`);

const closedWhy = {
  ended: 'Bidding ended',
  host: 'The host closed the lot',
  sold_out: 'Closed: every unit went',
  floor: 'Closed at the floor price',
};

// sentence says one ledger event of a lot; onLot (optional) is the lot's
// name to put in the sentence, for pages that list many lots.
export function sentence(f, onLot = null) {
  const d = f.data || {};
  const on = onLot ? [' on ', onLot] : [];
  switch (f.kind) {
    case 'bid': return [...who(d.bidder, d.bidder_region), ` bid ${money(d.amount)}`, ...on, d.proxy ? ' (by proxy)' : ''];
    case 'extended': return [onLot ? [onLot, ': '] : '', `A late bid extended bidding: it now ends at ${clock(d.ends_at)}`];
    case 'price_tick': return [onLot ? [onLot, ': '] : '', `Price dropped to ${money(d.price)}`, d.next_tick_at ? '' : ' — holding at the floor'];
    case 'claimed': return [...who(d.buyer, d.buyer_region), ` claimed ${units(d.qty)}`, onLot ? [' of ', onLot] : '', ` at ${money(d.price)}`];
    case 'sold': return [...who(d.buyer, d.buyer_region), ` bought ${units(d.qty)}`, onLot ? [' of ', onLot] : '', ` at ${money(d.price)}`];
    case 'sold_out': return [onLot ? [onLot, ': '] : '', 'Sold out', d.qty_total > 1 ? ` — all ${d.qty_total} gone` : ''];
    case 'opened':
      return [onLot || 'The lot', d.price ? ` opened at ${money(d.price)}` : d.start_price ? ` opened for bids from ${money(d.start_price)}` : ' opened'];
    case 'closed': return [onLot ? [onLot, ': '] : '', closedWhy[d.reason] || 'Closed'];
    case 'settled':
      if ('winner' in d) {
        return d.winner
          ? [onLot ? [onLot, ': '] : '', 'Won by ', el('strong', {}, d.winner), ` at ${money(d.price)}`]
          : [onLot ? [onLot, ': '] : '', 'Closed without a winner', d.reserve_met === false && d.price ? ' (reserve not met)' : ''];
      }
      return [onLot ? [onLot, ': '] : '', d.qty_sold ? `Settled: ${plural(d.qty_sold, 'unit')} sold for ${money(d.proceeds)}` : 'Closed with nothing sold'];
    default: return [onLot ? [onLot, ': '] : '', 'Something changed'];
  }
}

export const lotLink = (id) => el('a', { href: `#/lot/${id}` }, titles.get(id) || 'a lot');

// eventItem is a list line: the time, then the sentence.
export const eventItem = (f, onLot = null) => el('li', { 'data-kind': f.kind },
  el('time', { class: 'muted', datetime: f.at }, clock(f.at)), ' ', ...sentence(f, onLot));

// Lot kinds and statuses in words.
export const KIND = { english: 'English auction', dutch: 'Dutch auction', drop: 'Drop' };
export const STATUS = { scheduled: 'Opens soon', open: 'Live', closed: 'Closed', settled: 'Closed' };
