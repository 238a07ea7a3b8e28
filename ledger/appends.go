package ledger

import (
	"fmt"
	"math/bits"
	"strings"
)

// appendTable is a table a transaction only inserts into and never reads
// back or updates before it commits — entries, purchases, bids, the outbox,
// request records. A batch's rows of such a table go to the database as a
// few multi-row INSERTs at flush instead of one statement each: on a hot
// lot that is most of a batch's statements.
type appendTable struct {
	name    string
	columns []string
	inserts chunkSQL
}

var (
	entriesTable  = newAppendTable("entries", "id", "user_id", "kind", "amount", "lot_id", "hold_id", "request_id", "region", "at_ms", "actor")
	purchaseTable = newAppendTable("purchases", "id", "lot_id", "user_id", "qty", "unit_price", "total", "seq", "region", "at_ms")
	bidsTable     = newAppendTable("bids", "id", "lot_id", "seq", "user_id", "amount", "proxy", "region", "at_ms")
	outboxTable   = newAppendTable("lot_events", "lot_id", "seq", "kind", "at_ms", "region", "actor", "data", "wallets", "published")
	requestsTable = newAppendTable("requests", "user_id", "request_id", "op", "ok", "code", "message", "result", "at_ms", "lot_id")
)

func newAppendTable(name string, columns ...string) *appendTable {
	t := &appendTable{name: name, columns: columns}
	t.inserts = renderChunks(t.renderInsert)
	return t
}

// appended is one row waiting for its table's INSERT.
type appended struct {
	table *appendTable
	args  []any
}

// insert queues one row of t, written at flush.
func (w *work) insert(t *appendTable, args ...any) {
	if len(args) != len(t.columns) {
		panic(fmt.Sprintf("ledger: %d values for the %d columns of %s", len(args), len(t.columns), t.name))
	}
	w.appends = append(w.appends, appended{t, args})
}

// queueAppends turns the queued rows into multi-row INSERTs, table by
// table in first-use order, each expected to insert all its rows. Chunks
// are powers of two, so a table has a few statement texts, not one per
// batch size (the drivers' statement caches stay small), and stay far
// under PostgreSQL's 65,535 parameters.
func (w *work) queueAppends() {
	var order []*appendTable
	rows := map[*appendTable][][]any{}
	for _, a := range w.appends {
		if _, seen := rows[a.table]; !seen {
			order = append(order, a.table)
		}
		rows[a.table] = append(rows[a.table], a.args)
	}
	w.appends = nil
	for _, t := range order {
		pending := rows[t]
		for len(pending) > 0 {
			n := chunkRows(len(pending))
			args := make([]any, 0, n*len(t.columns))
			for _, r := range pending[:n] {
				args = append(args, r...)
			}
			w.writeRows(n, t.insertSQL(n), args...)
			pending = pending[n:]
		}
	}
}

// maxInsertRows bounds one multi-row statement's rows.
const maxInsertRows = 512

// chunkSQL is a multi-row statement rendered once for each chunk size
// chunkRows gives: element k has 2^k rows.
type chunkSQL []string

func renderChunks(render func(rows int) string) chunkSQL {
	var out chunkSQL
	for n := 1; n <= maxInsertRows; n *= 2 {
		out = append(out, render(n))
	}
	return out
}

// of is the statement for n rows, n from chunkRows.
func (c chunkSQL) of(n int) string { return c[bits.Len(uint(n))-1] }

// chunkRows is the rows of the next multi-row statement for pending rows:
// the largest power of two that fits, at most maxInsertRows, so a table
// has a few statement texts, not one per batch size (the drivers'
// statement caches stay small).
func chunkRows(pending int) int {
	if pending < 1 {
		panic(fmt.Sprintf("ledger: a chunk of %d rows", pending))
	}
	n := 1
	for n*2 <= pending && n*2 <= maxInsertRows {
		n *= 2
	}
	return n
}

// insertSQL is the INSERT of n rows of t, n from chunkRows.
func (t *appendTable) insertSQL(n int) string { return t.inserts.of(n) }

func (t *appendTable) renderInsert(n int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "INSERT INTO %s (%s) VALUES ", t.name, strings.Join(t.columns, ", "))
	sb.WriteString(placeholders(n, len(t.columns)))
	return sb.String()
}
