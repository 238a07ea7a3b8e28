package dsqlsim

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// How a refusal keeps the protocol's order.
//
// PostgreSQL answers a client's messages in order, and every simple Query
// and every Sync ends in exactly one ReadyForQuery. So the proxy groups what
// the client sends into units — one Query, or the extended messages up to
// and including a Sync — and keeps them in a queue; the server's answers
// belong to the head unit until its ReadyForQuery.
//
// To refuse a statement the proxy sends, in its place, a statement that
// cannot parse and carries a unique marker (a Query in the simple protocol;
// a Parse in the extended one, instead of the client's Parse or Bind). The
// server then does exactly what it does for any failing statement: aborts
// the transaction (later statements fail until ROLLBACK), skips the rest of
// an extended sequence until Sync, answers ReadyForQuery. The proxy
// replaces the syntax error that names its marker by DSQL's error. Nothing
// of the refused statement ever reaches PostgreSQL.
//
// A COMMIT that DSQL would fail (OC000, OC001, 54000) is refused the same
// way and followed by a ROLLBACK of the proxy's own, whose answer the
// client never sees; the client's ReadyForQuery says idle, as after a
// failed COMMIT: the transaction is over and nothing of it committed.

// session is one client connection and its connection to PostgreSQL.
type session struct {
	sim            *Sim
	id             uint64
	client, server net.Conn
	be             *pgproto3.Backend  // reads the client
	fe             *pgproto3.Frontend // reads the server
	toServer       chan outgoing
	toClient       chan outgoing

	// Only the client-reading goroutine touches these.
	stmts map[string]string // prepared statement → its SQL

	mu      sync.Mutex
	cond    *sync.Cond // pending shrank, or the session died
	pending []*unit    // sent, not yet answered to the end
	cur     *unit      // being sent (also in pending)
	tx      *txn       // the open transaction, as the client's messages say
	expired bool
	dead    bool

	shutOnce sync.Once
	lifetime *time.Timer
}

// unit is one Query, or extended-protocol messages up to a Sync.
type unit struct {
	tx       *txn                               // the transaction its statements ran in
	rewrites map[string]*pgproto3.ErrorResponse // marker → DSQL's error
	failed   bool                               // a refusal was sent: the server skips the rest
	endTx    bool                               // a refused COMMIT: roll back after the unit
	readyAs  byte                               // ReadyForQuery's status told the client; 0 keeps it
	internal bool                               // the proxy's own ROLLBACK: the client never sees it
	noop     bool                               // the current DDL did nothing ("…, skipping")
	lose     bool                               // a COMMIT whose answer is never sent: cut once it committed
}

// txn is one explicit transaction.
type txn struct {
	began     time.Time
	schemaGen uint64
	ddl, dml  bool
	wrote     bool // modified or locked rows: it can conflict
	rows      int
	failed    bool // a statement failed: PostgreSQL aborted it
}

// outgoing is bytes for one side; last closes the session once written.
type outgoing struct {
	b    []byte
	last bool
}

func newSession(sim *Sim, c net.Conn) *session {
	s := &session{sim: sim, id: sim.ids.Add(1), client: c, stmts: map[string]string{},
		toServer: make(chan outgoing, 256), toClient: make(chan outgoing, 256)}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *session) run() {
	defer s.shut()
	d := net.Dialer{Timeout: 10 * time.Second}
	server, err := d.Dial(s.sim.network, s.sim.target)
	if err != nil {
		s.sim.log.Warn().Err(err).Msg("PostgreSQL unreachable; the client's connection is closed")
		return
	}
	s.mu.Lock()
	s.server = server
	dead := s.dead
	s.mu.Unlock()
	if dead {
		server.Close()
		return
	}
	s.be = pgproto3.NewBackend(s.client, s.client)
	s.fe = pgproto3.NewFrontend(s.server, s.server)
	if err := s.startup(); err != nil {
		if !errors.Is(err, errCancelled) {
			s.sim.log.Debug().Err(err).Msg("connection start-up ended")
		}
		return
	}
	s.lifetime = time.AfterFunc(s.sim.opts.ConnLifetime, s.expire)
	defer s.lifetime.Stop()
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); s.write(s.server, s.toServer) }()
	go func() { defer wg.Done(); s.write(s.client, s.toClient) }()
	go func() { defer wg.Done(); s.fromClient() }()
	go func() { defer wg.Done(); s.fromServer() }()
	wg.Wait()
}

var errCancelled = errors.New("cancel request passed on")

// startup answers TLS and GSS requests no (the proxy is plain TCP on
// loopback), passes a cancel request on, and relays the start-up message
// and authentication until the server is ready for queries.
func (s *session) startup() error {
handshake:
	for {
		msg, err := s.be.ReceiveStartupMessage()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := s.client.Write([]byte{'N'}); err != nil {
				return err
			}
			continue
		case *pgproto3.CancelRequest:
			// The server's own connection carries it: the key data is the
			// server's, passed through at start-up.
			s.fe.Send(m)
			s.fe.Flush()
			return errCancelled
		case *pgproto3.StartupMessage:
			s.fe.Send(m)
			if err := s.fe.Flush(); err != nil {
				return err
			}
			break handshake
		default:
			return fmt.Errorf("dsqlsim: unexpected start-up message %T", msg)
		}
	}
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			return err
		}
		answer := false
		switch m := msg.(type) {
		case *pgproto3.AuthenticationCleartextPassword:
			s.be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
			answer = true
		case *pgproto3.AuthenticationMD5Password:
			s.be.SetAuthType(pgproto3.AuthTypeMD5Password)
			answer = true
		case *pgproto3.AuthenticationSASL:
			s.be.SetAuthType(pgproto3.AuthTypeSASL)
			answer = true
		case *pgproto3.AuthenticationSASLContinue:
			s.be.SetAuthType(pgproto3.AuthTypeSASLContinue)
			answer = true
		case *pgproto3.ErrorResponse:
			s.be.Send(m)
			s.be.Flush()
			return fmt.Errorf("dsqlsim: server refused the connection: %s", m.Message)
		case *pgproto3.ReadyForQuery:
			s.be.Send(m)
			return s.be.Flush()
		}
		s.be.Send(msg)
		if err := s.be.Flush(); err != nil {
			return err
		}
		if answer {
			reply, err := s.be.Receive()
			if err != nil {
				return err
			}
			s.fe.Send(reply)
			if err := s.fe.Flush(); err != nil {
				return err
			}
		}
	}
}

// write sends what the side's queue holds, flushing when it runs dry, so
// a pipeline travels in as few writes as it came.
func (s *session) write(conn net.Conn, queue <-chan outgoing) {
	w := bufio.NewWriterSize(conn, 64<<10)
	broken := false
	for o := range queue {
		if broken {
			continue
		}
		if _, err := w.Write(o.b); err != nil {
			broken = true
			s.shut()
			continue
		}
		if len(queue) == 0 || o.last {
			if err := w.Flush(); err != nil {
				broken = true
				s.shut()
				continue
			}
		}
		if o.last {
			broken = true
			s.shut()
		}
	}
}

// shut closes both connections; the goroutines end on their reads.
func (s *session) shut() {
	s.shutOnce.Do(func() {
		s.mu.Lock()
		s.dead = true
		s.cond.Broadcast()
		server := s.server
		s.mu.Unlock()
		s.client.Close()
		if server != nil {
			server.Close()
		}
	})
}

// expire is the lifetime's end: close now when idle (or when told to cut
// mid-transaction), otherwise at the next transaction boundary.
func (s *session) expire() {
	s.mu.Lock()
	s.expired = true
	idle := len(s.pending) == 0 && s.tx == nil
	s.mu.Unlock()
	if idle || s.sim.opts.CutMidTransaction {
		s.sim.stats.closed.Add(1)
		s.shut()
	}
}

func (s *session) send(queue chan<- outgoing, msg interface{ Encode([]byte) ([]byte, error) }) {
	b, err := msg.Encode(nil)
	if err != nil {
		s.sim.log.Warn().Err(err).Msg("encode failed; the connection is closed")
		s.shut()
		return
	}
	queue <- outgoing{b: b}
}

// unitLocked is the unit being sent, opening one (queued) if none is.
func (s *session) unitLocked() *unit {
	if s.cur == nil {
		s.cur = &unit{rewrites: map[string]*pgproto3.ErrorResponse{}}
		s.pending = append(s.pending, s.cur)
	}
	return s.cur
}

func (s *session) openUnit() *unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unitLocked()
}

// endUnit closes the unit being sent; a refused COMMIT's is followed by
// the proxy's own ROLLBACK.
func (s *session) endUnit(u *unit) {
	s.mu.Lock()
	s.cur = nil
	if u.endTx {
		s.pending = append(s.pending, &unit{internal: true, rewrites: map[string]*pgproto3.ErrorResponse{}})
	}
	s.mu.Unlock()
	if u.endTx {
		s.send(s.toServer, &pgproto3.Query{String: "ROLLBACK"})
	}
}

func (s *session) fromClient() {
	defer close(s.toServer)
	for {
		msg, err := s.be.Receive()
		if err != nil {
			s.shut()
			return
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			u := s.openUnit()
			if refusal, endTx := s.decide(u, m.String); refusal != nil {
				s.refuse(u, refusal, endTx, true)
			} else {
				if classify(m.String) == kindCommit && s.sim.opts.CommitLatency > 0 {
					time.Sleep(s.sim.opts.CommitLatency)
				}
				s.send(s.toServer, m)
			}
			s.endUnit(u)
		case *pgproto3.Parse:
			u := s.openUnit()
			delete(s.stmts, m.Name)
			// The text alone decides a rule; the transaction's state is
			// judged when the statement runs (Bind).
			if r := s.ruleRefusal(u, m.Query); r != nil {
				s.refuse(u, r, false, false)
				continue
			}
			s.stmts[m.Name] = m.Query
			s.send(s.toServer, m)
		case *pgproto3.Bind:
			u := s.openUnit()
			if refusal, endTx := s.decide(u, s.stmts[m.PreparedStatement]); refusal != nil {
				s.refuse(u, refusal, endTx, false)
				continue
			}
			s.send(s.toServer, m)
		case *pgproto3.Sync:
			u := s.openUnit()
			s.send(s.toServer, m)
			s.endUnit(u)
		case *pgproto3.Close:
			s.openUnit()
			if m.ObjectType == 'S' {
				delete(s.stmts, m.Name)
			}
			s.send(s.toServer, m)
		case *pgproto3.Terminate:
			s.send(s.toServer, m)
			return
		case *pgproto3.Describe, *pgproto3.Execute, *pgproto3.FunctionCall:
			s.openUnit()
			s.send(s.toServer, m)
		default: // Flush, CopyData …: no answer of their own
			s.send(s.toServer, m)
		}
	}
}

// ruleRefusal is DSQL's refusal of a statement's text, or nil; a unit
// already failing is left to the server, which skips the rest of it.
func (s *session) ruleRefusal(u *unit, sql string) *pgproto3.ErrorResponse {
	s.mu.Lock()
	failed := u.failed
	s.mu.Unlock()
	if failed {
		return nil
	}
	if r := refusalRule(sql); r != nil {
		s.sim.countRefusal(r.Name)
		return errRule(r)
	}
	return nil
}

// decide judges one statement about to run: its text against the rules,
// then against its transaction (DDL alone, the limits) and, for a COMMIT,
// whether DSQL would let it commit. A refused COMMIT ends the transaction
// (endTx).
func (s *session) decide(u *unit, sql string) (refusal *pgproto3.ErrorResponse, endTx bool) {
	if r := s.ruleRefusal(u, sql); r != nil {
		return r, false
	}
	opts := s.sim.opts
	k := classify(sql)
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.failed {
		return nil, false
	}
	tx := s.tx
	switch k {
	case kindBegin:
		if tx == nil {
			s.tx = &txn{began: time.Now(), schemaGen: s.sim.schemaGen()}
		}
		if u.tx == nil {
			u.tx = s.tx
		}
		return nil, false
	case kindRollback:
		s.tx = nil
		return nil, false
	case kindCommit:
		if tx == nil {
			return nil, false
		}
		// Judge on every answer before this unit: the rows counted, a
		// failure that already rolled the transaction back.
		for !s.dead && s.pending[0] != u {
			s.cond.Wait()
		}
		s.tx = nil
		switch {
		case tx.failed:
			return nil, false // PostgreSQL answers ROLLBACK itself
		case tx.rows > opts.MaxRows:
			s.sim.stats.rowLimit.Add(1)
			return errRowLimit(opts.MaxRows), true
		case time.Since(tx.began) > opts.TxLimit:
			s.sim.stats.timeLimit.Add(1)
			return errTimeLimit(opts.TxLimit), true
		case tx.wrote && s.sim.stale(tx.schemaGen, s.id):
			s.sim.stats.oc001.Add(1)
			return errStaleSchema(), true
		case tx.wrote && s.sim.abortNext():
			s.sim.stats.oc000.Add(1)
			return errConflict(), true
		}
		s.sim.stats.commits.Add(1)
		if tx.wrote && s.sim.loseNext() {
			u.lose = true
		}
		return nil, false
	}
	if tx == nil {
		return nil, false // autocommit: a transaction of its own
	}
	if u.tx == nil {
		u.tx = tx
	}
	switch {
	case time.Since(tx.began) > opts.TxLimit:
		s.sim.stats.timeLimit.Add(1)
		return errTimeLimit(opts.TxLimit), false
	case tx.rows > opts.MaxRows:
		s.sim.stats.rowLimit.Add(1)
		return errRowLimit(opts.MaxRows), false
	}
	switch k {
	case kindDDL:
		if tx.ddl {
			s.sim.countRefusal(ruleMultipleDDL)
			return errMultipleDDL(), false
		}
		if tx.dml {
			s.sim.countRefusal(ruleDDLWithDML)
			return errDDLWithDML(), false
		}
		tx.ddl = true
	case kindDML:
		if tx.ddl {
			s.sim.countRefusal(ruleDDLWithDML)
			return errDDLWithDML(), false
		}
		tx.dml, tx.wrote = true, true
	case kindLock:
		tx.wrote = true
	}
	return nil, false
}

// refuse sends, in the refused message's place, one that fails with the
// marker the answer is rewritten by.
func (s *session) refuse(u *unit, e *pgproto3.ErrorResponse, endTx, simple bool) {
	marker := s.sim.nextMarker()
	s.mu.Lock()
	u.rewrites[marker] = e
	u.failed = true
	if endTx {
		u.endTx, u.readyAs = true, 'I'
	}
	s.mu.Unlock()
	if simple {
		s.send(s.toServer, &pgproto3.Query{String: marker})
	} else {
		s.send(s.toServer, &pgproto3.Parse{Query: marker})
	}
}

func (s *session) fromServer() {
	defer close(s.toClient)
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			s.shut()
			return
		}
		out, last, cut := s.answer(msg)
		if cut {
			// PostgreSQL committed; the client never hears of it.
			s.sim.stats.lostReplies.Add(1)
			s.shut()
			return
		}
		if out == nil {
			continue
		}
		b, err := out.Encode(nil)
		if err != nil {
			s.shut()
			return
		}
		s.toClient <- outgoing{b: b, last: last}
		if last {
			s.sim.stats.closed.Add(1)
		}
	}
}

// answer reads one server message into the head unit's bookkeeping and
// returns what the client gets instead (nil: nothing), whether the
// connection ends after it (its lifetime is over and it is idle), and
// whether to cut it now instead (a COMMIT that loses its answer).
func (s *session) answer(msg pgproto3.BackendMessage) (out pgproto3.BackendMessage, last, cut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *unit
	if len(s.pending) > 0 {
		u = s.pending[0]
	}
	if u == nil {
		return msg, false, false // a notice or parameter status between units
	}
	switch m := msg.(type) {
	case *pgproto3.ErrorResponse:
		if u.tx != nil {
			u.tx.failed = true
		}
		for marker, e := range u.rewrites {
			if strings.Contains(m.Message, marker) {
				msg = e
				break
			}
		}
	case *pgproto3.NoticeResponse:
		if strings.HasSuffix(m.Message, "skipping") {
			u.noop = true // CREATE … IF NOT EXISTS found it there
		}
	case *pgproto3.CommandComplete:
		tag := string(m.CommandTag)
		if n, ok := modifiedRows(tag); ok && u.tx != nil {
			u.tx.rows += n
		}
		if u.lose && strings.EqualFold(tag, "COMMIT") {
			return nil, false, true
		}
		if changesSchema(tag) && !u.noop {
			s.sim.schemaChanged(s.id)
		}
		u.noop = false
	case *pgproto3.ReadyForQuery:
		if u.readyAs != 0 {
			m.TxStatus = u.readyAs
		}
		s.pending = s.pending[1:]
		s.cond.Broadcast()
		if u.internal {
			return nil, false, false
		}
		return msg, s.expired && len(s.pending) == 0 && s.tx == nil, false
	}
	if u.internal {
		return nil, false, false
	}
	return msg, false, false
}
