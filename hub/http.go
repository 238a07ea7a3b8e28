package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the WebSocket, the HTTP API, health, metrics and — for
// every other GET — static (the web UI).
func (h *Hub) Handler(static http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", h.serveWS)
	mux.HandleFunc("POST /api/session", h.postSession)
	mux.HandleFunc("GET /api/wallet", h.getWallet)
	mux.HandleFunc("POST /api/wallet/deposit", h.postDeposit)
	mux.HandleFunc("GET /api/lots", h.getLots)
	mux.HandleFunc("GET /api/lots/{id}", h.getLot)
	mux.HandleFunc("POST /api/lots", h.postLot)
	mux.HandleFunc("GET /api/audit", h.getAudit)
	mux.HandleFunc("POST /api/admin/credit", h.postCredit)
	mux.HandleFunc("POST /api/wallet/topup", h.postTopUp)
	mux.HandleFunc("POST /api/stripe/webhook", h.postStripeWebhook)
	mux.HandleFunc("POST /api/wallet/payout", h.postPayout)
	mux.HandleFunc("GET /api/wallet/payouts", h.getPayouts)
	mux.HandleFunc("GET /api/admin/payouts", h.getAdminPayouts)
	mux.HandleFunc("POST /api/admin/payouts/{id}", h.postAdminPayout)
	mux.HandleFunc("GET /api/leaderboard", h.getLeaderboard)
	mux.HandleFunc("GET /api/feed", h.getFeed)
	mux.HandleFunc("GET /api/me/activity", h.getActivity)
	mux.HandleFunc("GET /api/config", h.getConfig)
	if h.opts.Proof != nil {
		// The proof races this server as demo users: demo mode only.
		demoOnly := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h.requireDemo(w) {
				h.opts.Proof.ServeHTTP(w, r)
			}
		})
		mux.Handle("/api/proof", demoOnly)
		mux.Handle("/api/proof/", demoOnly)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /readyz", h.getReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, protocol.Errorf(protocol.ErrNotFound, "no endpoint "+r.Method+" "+r.URL.Path))
	})
	if static != nil {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				writeError(w, protocol.Errorf(protocol.ErrBadRequest, "method not allowed"))
				return
			}
			static.ServeHTTP(w, r)
		})
	}
	return h.limitBodies(mux)
}

// statusOf maps an error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case protocol.ErrBadRequest:
		return http.StatusBadRequest
	case protocol.ErrUnauthorized:
		return http.StatusUnauthorized
	case protocol.ErrForbidden:
		return http.StatusForbidden
	case protocol.ErrNotFound:
		return http.StatusNotFound
	case protocol.ErrRateLimited:
		return http.StatusTooManyRequests
	case protocol.ErrBusy, protocol.ErrUnavailable:
		return http.StatusServiceUnavailable
	case protocol.ErrInternal:
		return http.StatusInternalServerError
	}
	return http.StatusConflict // the lot's or wallet's state refused it
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *protocol.Error) {
	writeJSON(w, statusOf(e.Code), map[string]any{"error": e})
}

func jsonReply(r protocol.Reply) ([]byte, error) { return json.Marshal(r) }

// identity authenticates a request by its bearer token.
func (h *Hub) identity(r *http.Request) (Identity, *protocol.Error) {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return Identity{}, protocol.Errorf(protocol.ErrUnauthorized, "send Authorization: Bearer <token>")
	}
	id, err := h.tokens.Verify(token)
	if err != nil {
		return Identity{}, protocol.Errorf(protocol.ErrUnauthorized, "missing, forged or expired token")
	}
	return id, nil
}

// decodeBody strictly decodes a small JSON body: unknown fields, trailing
// data and wrong types (a float or a string where an integer belongs) are
// refused with a message naming the problem.
func decodeBody(r *http.Request, v any) *protocol.Error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return protocol.Errorf(protocol.ErrBadRequest, "could not read the body: "+err.Error())
	}
	// Duplicate keys are refused, not resolved: the decoder would keep
	// the last, a proxy or log reader perhaps the first.
	if k, err := protocol.DuplicateKey(body); err == nil && k != "" {
		return protocol.Errorf(protocol.ErrBadRequest, fmt.Sprintf("duplicate key %q: each field may appear once", k))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return protocol.Errorf(protocol.ErrBadRequest, fmt.Sprintf("%s must be a JSON %s", te.Field, te.Type))
		}
		return protocol.Errorf(protocol.ErrBadRequest, "body must be one JSON object: "+err.Error())
	}
	if dec.More() {
		return protocol.Errorf(protocol.ErrBadRequest, "body must hold exactly one JSON object")
	}
	return nil
}

// idempotencyKey is the request id for HTTP operations: the client's
// Idempotency-Key header, or a fresh id (no retry safety).
func idempotencyKey(r *http.Request) (string, *protocol.Error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "http-" + uuid.NewString(), nil
	}
	if len(k) > protocol.MaxIDLen {
		return "", protocol.Errorf(protocol.ErrBadRequest, "Idempotency-Key must be 1..64 characters")
	}
	if e := protocol.CheckText("Idempotency-Key", k, false); e != nil {
		return "", e
	}
	return k, nil
}

// requestRegion is the Region an HTTP request acts from: its
// X-Lotzero-Region header when valid, else us-east-1.
func requestRegion(r *http.Request) string {
	if region := r.Header.Get("X-Lotzero-Region"); protocol.ValidRegion(region) {
		return region
	}
	return "us-east-1"
}

func (h *Hub) requireDemo(w http.ResponseWriter) bool {
	if !h.tokens.Demo() {
		writeError(w, protocol.Errorf(protocol.ErrForbidden, "demo mode is off: tokens come from `lotzero token`"))
		return false
	}
	return true
}

// postSession is demo login: it creates an unknown user with the demo
// balance and returns a token for them.
func (h *Hub) postSession(w http.ResponseWriter, r *http.Request) {
	if !h.requireDemo(w) {
		return
	}
	var body struct {
		User   string   `json:"user"`
		Region string   `json:"region"`
		Roles  []string `json:"roles"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	if body.Region == "" {
		body.Region = "us-east-1"
	}
	if !protocol.ValidUser(body.User) {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "user must match [a-z0-9_-]{1,32}"))
		return
	}
	if !protocol.ValidRegion(body.Region) {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "region must match [a-z0-9-]{1,32}"))
		return
	}
	if len(body.Roles) == 0 {
		body.Roles = []string{RoleBidder}
		if body.User == ledger.DemoHost {
			body.Roles = append(body.Roles, RoleHost)
		}
	}
	if err := ValidRoles(body.Roles); err != nil {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, err.Error()))
		return
	}
	if _, err := h.ledger.EnsureUser(r.Context(), body.User, body.Region, h.ledger.DemoBalance()); err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	token, err := h.tokens.Mint(body.User, body.Roles, min(24*time.Hour, h.tokens.MaxTTL()))
	if err != nil {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, protocol.Session{Token: token, User: body.User, Roles: body.Roles})
}

func (h *Hub) getWallet(w http.ResponseWriter, r *http.Request) {
	id, e := h.identity(r)
	if e != nil {
		writeError(w, e)
		return
	}
	wallet, err := h.ledger.Wallet(r.Context(), id.User)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	entries, err := h.ledger.Entries(r.Context(), id.User, 50)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	list := make([]map[string]any, 0, len(entries))
	for _, en := range entries {
		item := map[string]any{"kind": en.Kind, "amount": en.Amount, "region": en.Region, "at": protocol.Time(en.At), "lot": nil}
		if en.Lot != nil {
			item["lot"] = en.Lot.String()
		}
		list = append(list, item)
	}
	writeJSON(w, http.StatusOK, map[string]any{"wallet": walletOf(wallet), "entries": list})
}

func (h *Hub) postDeposit(w http.ResponseWriter, r *http.Request) {
	if !h.requireDemo(w) {
		return
	}
	id, e := h.identity(r)
	if e != nil {
		writeError(w, e)
		return
	}
	var body struct {
		Amount int64 `json:"amount"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	key, e := idempotencyKey(r)
	if e != nil {
		writeError(w, e)
		return
	}
	wallet, err := h.ledger.Deposit(r.Context(), ledger.Actor{User: id.User, Region: requestRegion(r), RequestID: key}, body.Amount)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	go h.pushWallet(context.Background(), id.User)
	writeJSON(w, http.StatusOK, map[string]any{"wallet": walletOf(wallet)})
}

// getLots is the lobby: the listed lots that are open or scheduled (the
// ones there longest first, up to lobbyOpen), and as "recent" the last
// lobbyRecent that closed. Unlisted lots (the proof's) never show here.
func (h *Hub) getLots(w http.ResponseWriter, r *http.Request) {
	open, recent, err := h.ledger.LobbyLots(r.Context(), lobbyOpen, lobbyRecent)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	stale := h.firehoseDown() // the counts stop at what the node knew
	list := func(lots []*ledger.Lot) []protocol.Lot {
		out := make([]protocol.Lot, 0, len(lots))
		for _, l := range lots {
			lot := snapshot(l, h.presence.count(l.ID.String()))
			lot.WatchersStale = stale
			out = append(out, lot)
		}
		return out
	}
	writeJSON(w, http.StatusOK, map[string]any{"lots": list(open), "recent": list(recent)})
}

const (
	lobbyOpen   = 500
	lobbyRecent = 12
)

func (h *Hub) getLot(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "lot must be a lot id (a UUID)"))
		return
	}
	l, err := h.ledger.Lot(r.Context(), id)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	// A lot's page never waits on the social store for a lot this node
	// has read before: it gets the node's count, its last read with the
	// joins and leaves here since (a new read starts in the background
	// when that is older than presenceFresh). Only a lot
	// the node never read waits, at most socialWait; the lobby's list
	// reads none.
	current, ok := h.presence.cached(l.ID.String(), presenceFresh)
	if !ok {
		ctx, cancel := context.WithTimeout(r.Context(), socialWait)
		_, current = h.presence.read(ctx, l.ID.String(), 0)
		cancel()
	}
	lot := snapshot(l, h.presence.count(l.ID.String()))
	lot.WatchersStale = !current
	writeJSON(w, http.StatusOK, map[string]any{"lot": lot})
}

// lotBody is POST /api/lots: the contract's shapes for each mechanic.
type lotBody struct {
	Kind         string `json:"kind"`
	Title        string `json:"title"`
	StartPrice   int64  `json:"start_price"`
	Reserve      int64  `json:"reserve"`
	DurationS    int64  `json:"duration_s"`
	ExtensionS   int64  `json:"extension_s"`
	HardEndS     int64  `json:"hard_end_s"`
	FloorPrice   int64  `json:"floor_price"`
	Step         int64  `json:"step"`
	IntervalMS   int64  `json:"interval_ms"`
	FloorAction  string `json:"floor_action"`
	Price        int64  `json:"price"`
	Qty          int64  `json:"qty"`
	PerUserLimit int64  `json:"per_user_limit"`
	Open         *bool  `json:"open"`
	Unlisted     bool   `json:"unlisted"`
	Region       string `json:"region"`
}

func (h *Hub) postLot(w http.ResponseWriter, r *http.Request) {
	id, e := h.identity(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if !id.Has(RoleHost) {
		writeError(w, protocol.Errorf(protocol.ErrForbidden, "creating lots needs the host role"))
		return
	}
	var b lotBody
	if e := decodeBody(r, &b); e != nil {
		writeError(w, e)
		return
	}
	if e := protocol.CheckText("title", b.Title, false); e != nil {
		writeError(w, e)
		return
	}
	key, e := idempotencyKey(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if b.Region == "" {
		b.Region = "us-east-1"
	}
	spec := ledger.LotSpec{
		Kind: b.Kind, Title: b.Title, Scheduled: b.Open != nil && !*b.Open,
		StartPrice: b.StartPrice, Reserve: b.Reserve, DurationS: b.DurationS, ExtensionS: b.ExtensionS, HardEndS: b.HardEndS,
		FloorPrice: b.FloorPrice, Step: b.Step, IntervalMS: b.IntervalMS, FloorAction: b.FloorAction,
		Price: b.Price, Qty: b.Qty, PerUserLimit: b.PerUserLimit, Unlisted: b.Unlisted,
	}
	res, events, err := h.ledger.CreateLot(r.Context(), ledger.Actor{User: id.User, Region: b.Region, RequestID: key}, spec)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	h.deliverLocal(events)
	h.publish(r.Context(), events)
	l, err := h.ledger.Lot(r.Context(), res.Lot)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"lot": snapshot(l, 0)})
}

// getAudit runs the ledger's invariant audit. Outside demo mode it scans
// the whole ledger for an operator or a host only, and is paced per node.
func (h *Hub) getAudit(w http.ResponseWriter, r *http.Request) {
	operator := h.tokens.Demo()
	if !h.tokens.Demo() {
		id, e := h.identity(r)
		if e != nil {
			writeError(w, e)
			return
		}
		if !id.Has(RoleOperator) && !id.Has(RoleHost) {
			writeError(w, protocol.Errorf(protocol.ErrForbidden, "the audit needs the operator or host role"))
			return
		}
		operator = id.Has(RoleOperator)
		if !h.auditLimit.Allow() {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(h.opts.AuditEvery.Seconds()))))
			writeError(w, protocol.Errorf(protocol.ErrRateLimited, fmt.Sprintf("the audit runs at most once every %v on a node; retry later", h.opts.AuditEvery)))
			return
		}
	}
	vs, err := h.ledger.Audit(r.Context())
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	// Lots whose settlement or tick keeps failing on this node are not a
	// violation (nothing moved) but need an operator: the report names them.
	stuck := map[string][]string{"settle": h.metrics.settles.stuckLots(), "tick": h.metrics.ticks.stuckLots()}
	report := map[string]any{"ok": len(vs) == 0, "violations": vs, "stuck_lots": stuck}
	// Frozen wallets are not a violation either: each owes what a refund
	// or dispute took back after it was spent, and the report says what —
	// to an operator (or in demo mode): they name users and their debts.
	if operator {
		frozen, err := h.ledger.FrozenWallets(r.Context(), 100)
		if err != nil {
			writeError(w, h.protocolError(err))
			return
		}
		report["frozen"] = frozen
	}
	writeJSON(w, http.StatusOK, report)
}

func (h *Hub) getReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"ledger": "ok"}
	ready := true
	if err := h.ledger.Ping(ctx); err != nil {
		checks["ledger"], ready = err.Error(), false
	}
	// The firehose is reported, never a reason to be unready (firehosehealth.go).
	check, detail := h.firehoseReadiness(ctx)
	checks["firehose"] = check
	if h.draining.Load() {
		checks["node"], ready = "draining", false
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "checks": checks, "firehose": detail})
}
