package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lotzero/lotzero/protocol"
)

// serveWS upgrades GET /ws, authenticates the hello and runs the session.
// The Origin check is done after the upgrade, so a refused browser gets a
// 1008 close it can show rather than a bare HTTP 403.
func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	// A node at its connection cap refuses before the upgrade, while a
	// refusal is still a plain HTTP answer any client understands.
	if h.conns.Add(1) > int64(h.opts.MaxSessions) {
		h.conns.Add(-1)
		h.metrics.refused.WithLabelValues("capacity").Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, protocol.Errorf(protocol.ErrBusy, "this node is at its connection limit; retry shortly or use another node"))
		return
	}
	counted := true
	defer func() {
		if counted {
			h.conns.Add(-1)
		}
	}()
	// Until its hello a connection holds a pending slot: silent sockets
	// are bounded per address and per node, before the upgrade.
	release, err := h.pending.acquire(r.Context(), clientIP(r))
	if err != nil {
		if errors.Is(err, errPendingIP) {
			h.metrics.limited.WithLabelValues("ip_pending").Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, protocol.Errorf(protocol.ErrRateLimited, "too many connections from your address have not sent their hello; retry shortly"))
			return
		}
		h.metrics.limited.WithLabelValues("pending").Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, protocol.Errorf(protocol.ErrBusy, "too many connections on this node have not sent their hello; retry shortly"))
		return
	}
	defer release()
	hj := &hijacker{ResponseWriter: w}
	ws, err := h.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // Upgrade wrote the HTTP error
	}
	conn := &wsConn{Conn: ws, sock: hj.sock}
	conn.SetReadLimit(protocol.ReadLimit)
	if !h.originAllowed(r) {
		conn.end(protocol.ClosePolicy, "origin not allowed")
		return
	}
	if h.draining.Load() {
		conn.end(protocol.CloseGoingAway, "server shutting down")
		return
	}
	ident, hello, ok := h.awaitHello(conn)
	release()
	if !ok {
		return
	}
	region := hello.Region
	s := h.newSession(conn, ident, region, hello.Batch)
	if !h.register(s) {
		h.metrics.limited.WithLabelValues("user_sessions").Inc()
		conn.end(protocol.CloseRateLimited, "too many sessions for this user on this node")
		return
	}
	if hj.sock.raw == nil {
		h.metrics.waitingWrites.Inc()
		h.warnWaitingWrites.Do(func() {
			h.log.Warn().Str("conn", fmt.Sprintf("%T", hj.sock.Conn)).
				Msg("WebSocket connections are not plain TCP sockets: a room's events cost a goroutine per session (lotzero_sessions_without_direct_writes_total)")
		})
	}
	wallet, err := h.ledger.Wallet(r.Context(), ident.User)
	if err != nil {
		h.log.Warn().Err(err).Str("user", ident.User).Msg("welcome: no wallet")
	} else {
		h.noteWalletSent(wallet)
	}
	s.sendJSON(protocol.Welcome{
		Type: "welcome", Session: s.id, User: ident.User, Roles: ident.Roles, Region: region,
		Server: protocol.ServerInfo{Node: h.opts.Node, Ledger: string(h.ledger.Backend()), Firehose: h.fh.Name(),
			ChatBudget: h.opts.ChatBudget},
		Wallet: walletOf(wallet),
	})
	// The session reads on a fresh goroutine and this one returns: the
	// HTTP server's goroutine has grown a deep stack parsing the upgrade,
	// which a long-lived connection should not keep.
	counted = false // the session's goroutine gives the slot back
	go func() {
		defer h.conns.Add(-1)
		s.readLoop()
		s.close(protocol.CloseNormal, "")
		s.cmds.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.leaveAll(ctx)
		cancel()
		h.unregister(s)
		conn.end(protocol.CloseNormal, "") // after the close frame s.close sent, if any
	}()
}

// awaitHello reads frames until a valid hello: a bad token closes with
// 4001, no hello within HelloTimeout with 4008; a hello with a bad region
// gets an error reply and may be sent again. When it fails it has ended the
// connection.
func (h *Hub) awaitHello(conn *wsConn) (Identity, protocol.Hello, bool) {
	// The timer sends the close frame, with its code; the peer's answer (or
	// the close deadline) then ends the read below.
	timer := time.AfterFunc(h.opts.HelloTimeout, func() {
		conn.closeWith(protocol.CloseHelloTimeout, "no hello in time")
	})
	defer timer.Stop()
	fail := func(code int, reason string) (Identity, protocol.Hello, bool) {
		timer.Stop()
		conn.end(code, reason) // a close frame already sent keeps its code
		return Identity{}, protocol.Hello{}, false
	}
	for {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			return fail(protocol.CloseNormal, "")
		}
		hello, perr := protocol.ParseHello(frame)
		if perr != nil && perr.Code == protocol.ErrUnauthorized {
			return fail(protocol.CloseUnauthorized, perr.Message)
		}
		if perr != nil {
			b, _ := jsonReply(errorReply(requestID(frame), perr))
			_ = conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			err := conn.WriteMessage(websocket.TextMessage, b)
			_ = conn.SetWriteDeadline(time.Time{})
			if err != nil {
				return fail(protocol.CloseGoingAway, "write failed")
			}
			continue
		}
		ident, err := h.tokens.Verify(hello.Token)
		if err != nil {
			return fail(protocol.CloseUnauthorized, "unauthorized: missing, forged or expired token")
		}
		if !timer.Stop() {
			return fail(protocol.CloseHelloTimeout, "no hello in time") // the timer's close frame is out
		}
		return ident, hello, true
	}
}

// originAllowed accepts requests without an Origin (bots), from one of
// PublicOrigins, or from a host matching AllowedOrigins. The request's Host
// header takes no part: a DNS-rebinding page sends its own name there and
// in Origin alike.
func (h *Hub) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, public := range h.opts.PublicOrigins {
		if originMatches(public, u) {
			return true
		}
	}
	for _, pattern := range h.opts.AllowedOrigins {
		if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// originMatches reports whether the Origin u is public: "scheme://host[:port]"
// (scheme and host must both match) or a bare "host[:port]" (any scheme).
func originMatches(public string, u *url.URL) bool {
	scheme, host, ok := strings.Cut(public, "://")
	if !ok {
		scheme, host = "", public
	}
	host = strings.TrimSuffix(host, "/")
	if scheme != "" && !strings.EqualFold(scheme, u.Scheme) {
		return false
	}
	return strings.EqualFold(host, u.Host)
}
