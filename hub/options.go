package hub

import (
	"context"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// Options configure a Hub. Zero values mean the documented defaults,
// applied once in New.
type Options struct {
	// Node names this server node in welcome frames and presence. Zero
	// means the host name.
	Node string
	// AuthSecret signs and verifies tokens. Empty means demo mode: a public
	// demo key, and POST /api/session and /api/wallet/deposit are on.
	AuthSecret string
	// AllowedOrigins are extra Origin host patterns (path.Match syntax, e.g.
	// "*.example.com") allowed to open the WebSocket besides the server's
	// own host. Requests without an Origin (bots) are always allowed.
	AllowedOrigins []string
	// HelloTimeout closes a connection with 4008 if no hello arrives. Zero
	// means 10s.
	HelloTimeout time.Duration
	// QueueBytes bounds each session's outbound queue; over it the session
	// is closed with 4009. Zero means 1 MiB.
	QueueBytes int
	// WriteTimeout bounds each frame write. Zero means 10s.
	WriteTimeout time.Duration
	// PingInterval is how often idle connections are pinged; a ping not
	// answered within PingInterval closes the connection. Zero means 25s.
	PingInterval time.Duration
	// CommandRate and CommandBurst limit each session's requests per second.
	// Zero means 50 and 100.
	CommandRate  float64
	CommandBurst int
	// ChatRate/ChatBurst and ReactRate/ReactBurst limit chat lines and
	// reactions per session. Zero means 2/5 and 8/16.
	ChatRate   float64
	ChatBurst  int
	ReactRate  float64
	ReactBurst int
	// RateStrikes is how many rate_limited replies in a row close the
	// session with 4029. Zero means 20.
	RateStrikes int
	// TickEvery is how often the ticker and closer look for due Dutch steps
	// and English ends. Zero means 200ms.
	TickEvery time.Duration
	// RelayEvery is how often the outbox relay publishes events a node
	// committed but never published (a crash between COMMIT and publish).
	// Zero means 2s; events younger than RelayEvery are left to their node.
	RelayEvery time.Duration
	// PresenceTTL is how long a presence entry lives without a heartbeat
	// (the firehose's setting; heartbeats go out every third of it). Zero
	// means 30s.
	PresenceTTL time.Duration
	// PresenceEvery is how often each lot's arrivals and departures are
	// announced, coalesced into one presence event. Zero means 500ms.
	PresenceEvery time.Duration
	// MaxReplay is the most events join replays for since; further behind,
	// join answers resync. Zero means 1000.
	MaxReplay int
	// MaxInFlight bounds concurrent commands per session. Zero means 16.
	MaxInFlight int
	// DemoBalance funds users created by POST /api/session in demo mode
	// (the ledger's default when zero).
	DemoBalance int64
	// SkipPublish is fault injection for tests: committed events are not
	// published by the node that committed them, as if it died right after
	// COMMIT, so only the outbox relay can deliver them.
	SkipPublish bool
	// Proof, when set, runs a proof scenario against this server for POST
	// /api/proof (demo mode only) and returns its JSON-encodable report.
	Proof func(ctx context.Context, req ProofRequest) (any, error)
	// Logger receives structured logs.
	Logger zerolog.Logger
}

func (o Options) withDefaults() Options {
	if o.Node == "" {
		o.Node, _ = os.Hostname()
		if o.Node == "" {
			o.Node = "node"
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	defRate := func(d *float64, v float64) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HelloTimeout, 10*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.PingInterval, 25*time.Second)
	def(&o.TickEvery, 200*time.Millisecond)
	def(&o.RelayEvery, 2*time.Second)
	def(&o.PresenceEvery, 500*time.Millisecond)
	def(&o.PresenceTTL, 30*time.Second)
	defInt(&o.QueueBytes, 1<<20)
	defInt(&o.CommandBurst, 100)
	defInt(&o.ChatBurst, 5)
	defInt(&o.ReactBurst, 16)
	defInt(&o.RateStrikes, 20)
	defInt(&o.MaxReplay, 1000)
	defInt(&o.MaxInFlight, 16)
	defRate(&o.CommandRate, 50)
	defRate(&o.ChatRate, 2)
	defRate(&o.ReactRate, 8)
	return o
}

// ProofRequest is the body of POST /api/proof.
type ProofRequest struct {
	Scenario string `json:"scenario"`
	N        int    `json:"n"`
	K        int    `json:"k"`
}

// MaxWebProofN bounds a proof run started from the web console.
const MaxWebProofN = 2000
