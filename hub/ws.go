package hub

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/coder/websocket"
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
	conn, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept wrote the HTTP error
	}
	conn.SetReadLimit(protocol.ReadLimit)
	if !h.originAllowed(r) {
		_ = conn.Close(protocol.ClosePolicy, "origin not allowed")
		return
	}
	if h.draining.Load() {
		_ = conn.Close(protocol.CloseGoingAway, "server shutting down")
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
		_ = conn.Close(protocol.CloseRateLimited, "too many sessions for this user on this node")
		return
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
	}()
}

// awaitHello reads frames until a valid hello: a bad token closes with
// 4001, no hello within HelloTimeout with 4008; a hello with a bad region
// gets an error reply and may be sent again.
func (h *Hub) awaitHello(conn *websocket.Conn) (Identity, protocol.Hello, bool) {
	// The timer closes the socket, with its code; a Read with a deadline
	// context would instead close it without one.
	timedOut := make(chan struct{})
	timer := time.AfterFunc(h.opts.HelloTimeout, func() {
		close(timedOut)
		_ = conn.Close(protocol.CloseHelloTimeout, "no hello in time")
	})
	defer timer.Stop()
	for {
		_, frame, err := conn.Read(context.Background())
		select {
		case <-timedOut:
			return Identity{}, protocol.Hello{}, false
		default:
		}
		if err != nil {
			return Identity{}, protocol.Hello{}, false
		}
		hello, perr := protocol.ParseHello(frame)
		if perr != nil && perr.Code == protocol.ErrUnauthorized {
			_ = conn.Close(protocol.CloseUnauthorized, perr.Message)
			return Identity{}, protocol.Hello{}, false
		}
		if perr != nil {
			b, _ := jsonReply(errorReply(requestID(frame), perr))
			ctx, cancel := context.WithTimeout(context.Background(), h.opts.WriteTimeout)
			err := conn.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return Identity{}, protocol.Hello{}, false
			}
			continue
		}
		ident, err := h.tokens.Verify(hello.Token)
		if err != nil {
			_ = conn.Close(protocol.CloseUnauthorized, "unauthorized: missing, forged or expired token")
			return Identity{}, protocol.Hello{}, false
		}
		if !timer.Stop() {
			return Identity{}, protocol.Hello{}, false
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

// smallBuffers gives the WebSocket library right-sized buffers when it
// hijacks the connection. The HTTP server's are 4 KiB each, sized for HTTP;
// a session reads small requests and writes one event frame (a few hundred
// bytes) at a time, and at thousands of connections those buffers are a
// large part of an idle one's cost. A reader already holding bytes is kept.
type smallBuffers struct{ http.ResponseWriter }

const (
	sessionReadBuffer  = 1024
	sessionWriteBuffer = 1024
)

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	rd := brw.Reader
	if rd.Buffered() == 0 {
		// Nothing read ahead (the usual case: a client waits for the
		// upgrade's answer before it writes): a small reader will do. The
		// library re-points it at the connection itself.
		rd = bufio.NewReaderSize(conn, sessionReadBuffer)
	}
	return conn, bufio.NewReadWriter(rd, bufio.NewWriterSize(conn, sessionWriteBuffer)), nil
}
