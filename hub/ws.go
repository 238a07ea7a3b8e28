package hub

import (
	"context"
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
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
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
	ident, region, ok := h.awaitHello(conn)
	if !ok {
		return
	}
	s := h.newSession(conn, ident, region)
	h.register(s)
	defer func() {
		s.close(protocol.CloseNormal, "")
		s.cmds.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.leaveAll(ctx)
		cancel()
		h.unregister(s)
	}()

	wallet, err := h.ledger.Wallet(r.Context(), ident.User)
	if err != nil {
		h.log.Warn().Err(err).Str("user", ident.User).Msg("welcome: no wallet")
	}
	s.sendJSON(protocol.Welcome{
		Type: "welcome", Session: s.id, User: ident.User, Roles: ident.Roles, Region: region,
		Server: protocol.ServerInfo{Node: h.opts.Node, Ledger: string(h.ledger.Backend()), Firehose: h.fh.Name()},
		Wallet: walletOf(wallet),
	})
	go s.writeLoop()
	s.readLoop()
}

// awaitHello reads frames until a valid hello: a bad token closes with
// 4001, no hello within HelloTimeout with 4008; a hello with a bad region
// gets an error reply and may be sent again.
func (h *Hub) awaitHello(conn *websocket.Conn) (Identity, string, bool) {
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
			return Identity{}, "", false
		default:
		}
		if err != nil {
			return Identity{}, "", false
		}
		hello, perr := protocol.ParseHello(frame)
		if perr != nil && perr.Code == protocol.ErrUnauthorized {
			_ = conn.Close(protocol.CloseUnauthorized, perr.Message)
			return Identity{}, "", false
		}
		if perr != nil {
			b, _ := jsonReply(errorReply(requestID(frame), perr))
			ctx, cancel := context.WithTimeout(context.Background(), h.opts.WriteTimeout)
			err := conn.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return Identity{}, "", false
			}
			continue
		}
		ident, err := h.tokens.Verify(hello.Token)
		if err != nil {
			_ = conn.Close(protocol.CloseUnauthorized, "unauthorized: missing, forged or expired token")
			return Identity{}, "", false
		}
		if !timer.Stop() {
			return Identity{}, "", false
		}
		return ident, hello.Region, true
	}
}

// originAllowed accepts requests without an Origin (bots), from the
// server's own host, or from a host matching AllowedOrigins.
func (h *Hub) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, pattern := range h.opts.AllowedOrigins {
		if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}
