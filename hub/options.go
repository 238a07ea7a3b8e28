package hub

import (
	"math"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
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
	// PublicOrigins are the origins ("https://auction.example.com", or a
	// bare host[:port]) the server is reached at; a browser's WebSocket is
	// accepted from these (and AllowedOrigins) only. The request's own Host
	// header is never trusted: a DNS-rebinding page controls it. Empty
	// means none; lotzero serve defaults it to its listen address and the
	// localhost forms.
	PublicOrigins []string
	// Stripe takes card top-ups (POST /api/wallet/topup) and their
	// confirmations (POST /api/stripe/webhook). Zero (no secret key or no
	// webhook secret) turns both endpoints off: they answer 404.
	Stripe StripeOptions
	// MaxTokenTTL refuses tokens whose lifetime (exp − iat) is longer, and
	// caps what lotzero token mints. Zero means 24h.
	MaxTokenTTL time.Duration
	// AuditEvery paces GET /api/audit outside demo mode, which scans the
	// whole ledger: one per AuditEvery per node, with a burst of 2; more
	// get 429 rate_limited. Zero means 5s.
	AuditEvery time.Duration
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
	// reactions per session. Zero means 2 lines/s; a burst of the larger of
	// 5 and ChatRate; four times ChatRate reactions/s; a burst of 16.
	ChatRate   float64
	ChatBurst  int
	ReactRate  float64
	ReactBurst int
	// ChatBudget is how many chat lines per second a room shows, per node:
	// a line over it is not broadcast (its reply says broadcast:false) and
	// is counted in the room's next batch frame instead; reactions get four
	// times the budget. Zero means 20.
	ChatBudget float64
	// SocialBatchEvery is the interval over which a busy room's chat,
	// reactions and presence are coalesced into one frame. Zero means
	// 250ms.
	SocialBatchEvery time.Duration
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
	// means firehose.DefaultPresenceTTL (30s).
	PresenceTTL time.Duration
	// PresenceEvery is how often each lot's arrivals and departures are
	// announced, coalesced into one presence event. Zero means 500ms.
	PresenceEvery time.Duration
	// MaxReplay is the most events join replays for since; further behind,
	// join answers resync. Zero means 1000.
	MaxReplay int
	// MaxInFlight bounds concurrent commands per session. Zero means 16.
	MaxInFlight int
	// RoomHistory is how many of its last events a room keeps in memory to
	// catch joining sessions up without a ledger read. Zero means 256.
	RoomHistory int
	// ViewsEvery is how often changed leaderboards and reaction totals are
	// read and pushed, and new feed events pushed, to lobby watchers and
	// room members. Zero means 1s.
	ViewsEvery time.Duration
	// RecordDelay is how long a node waits before recording (Views.Record)
	// a ledger event another node committed: that node records it at once,
	// so the delay lets this node find it done with one read; it records it
	// itself when that node died first. Zero means 1s.
	RecordDelay time.Duration
	// CrowdArrived, when set, runs once a crowd has arrived: at least
	// crowdSessions sessions registered since the last run and none for a
	// second, at most once a minute. The server returns the arrival's garbage (HTTP upgrades, join
	// replies) to the operating system there, so its resident memory
	// follows the sessions it holds rather than its busiest second.
	CrowdArrived func()
	// DispatchShards is how many workers deliver firehose messages to this
	// node's rooms, each lot always on the same one. Zero means 8.
	DispatchShards int
	// MaxSessions caps this node's WebSocket connections; past it a new
	// one is refused with HTTP 503 before the upgrade. Zero means the
	// process's open-files limit less 512 (for the database, the firehose
	// and files), at least 64.
	MaxSessions int
	// MaxSessionsPerUser caps one user's sessions on this node; past it a
	// new one is closed with 4029 right after its hello. Zero means 100:
	// far above a person's tabs or a bot's pool, far below one token
	// filling the node.
	MaxSessionsPerUser int
	// MaxPendingPerIP caps the connections from one IP address that have
	// not yet sent their hello (authenticated sessions do not count, so
	// many users behind one NAT are not limited). Past it a new connection
	// waits up to HelloTimeout for a slot, then gets HTTP 429 before the
	// upgrade. Zero means 1024.
	MaxPendingPerIP int
	// MaxPending caps this node's connections that have not yet sent their
	// hello, from any address; past it a new connection waits like above,
	// then gets HTTP 503. Zero means MaxSessions/4, at least 1024, so a
	// flood of silent sockets leaves room for real sessions.
	MaxPending int
	// MaxRoomsPerSession caps the lots one session is joined to at once;
	// past it join answers limit_exceeded. Zero means 100.
	MaxRoomsPerSession int
	// MaxBodyBytes bounds every HTTP request body; past it the answer is
	// 413 limit_exceeded. Zero means 64 KiB.
	MaxBodyBytes int
	// HTTPReadTimeout bounds reading one HTTP request, headers and body
	// (the WebSocket is not affected once upgraded): a body dribbled in
	// slowly cannot hold a connection. Zero means 15s.
	HTTPReadTimeout time.Duration
	// HTTPIdleTimeout closes a keep-alive HTTP connection idle this long.
	// Zero means 60s.
	HTTPIdleTimeout time.Duration
	// RequestRetention is how long a request's outcome is kept for
	// idempotent retries (the ledger's requests table); older records are
	// deleted every PruneEvery, in small chunks. A retry after it runs as a
	// new request. Zero means 24h.
	RequestRetention time.Duration
	// PruneEvery is how often old request records are deleted. Zero means
	// 10m.
	PruneEvery time.Duration
	// DemoBalance funds users created by POST /api/session in demo mode
	// (the ledger's default when zero).
	DemoBalance int64
	// SkipPublish is fault injection for tests: committed events are not
	// published by the node that committed them, as if it died right after
	// COMMIT, so only the outbox relay can deliver them.
	SkipPublish bool
	// Proof, when set, serves /api/proof and below in demo mode: the web
	// console's proof (package proof), which the hub knows nothing of.
	Proof http.Handler
	// Logger receives structured logs.
	Logger zerolog.Logger
}

// Defaults returns the value every zero field of Options stands for, for
// callers that show them (lotzero's flags). Node stays empty: it means the
// host name, read when the hub starts.
func Defaults() Options {
	o := Options{}.withDefaults()
	o.Node = ""
	return o
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
	def(&o.MaxTokenTTL, DefaultMaxTokenTTL)
	def(&o.AuditEvery, 5*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.PingInterval, 25*time.Second)
	def(&o.TickEvery, 200*time.Millisecond)
	def(&o.RelayEvery, 2*time.Second)
	def(&o.PresenceEvery, 500*time.Millisecond)
	def(&o.PresenceTTL, firehose.DefaultPresenceTTL)
	defInt(&o.QueueBytes, 1<<20)
	defInt(&o.CommandBurst, 100)
	defInt(&o.RateStrikes, 20)
	defInt(&o.MaxReplay, 1000)
	defInt(&o.MaxInFlight, 16)
	defInt(&o.RoomHistory, 256)
	defInt(&o.DispatchShards, 8)
	def(&o.ViewsEvery, time.Second)
	def(&o.RecordDelay, time.Second)
	defInt(&o.MaxSessions, max(64, openFilesLimit()-512))
	def(&o.RequestRetention, ledger.DefaultRequestRetention)
	def(&o.PruneEvery, 10*time.Minute)
	defInt(&o.MaxSessionsPerUser, 100)
	defInt(&o.MaxPendingPerIP, 1024)
	defInt(&o.MaxPending, max(1024, o.MaxSessions/4))
	defInt(&o.MaxRoomsPerSession, 100)
	defInt(&o.MaxBodyBytes, 64<<10)
	def(&o.HTTPReadTimeout, 15*time.Second)
	def(&o.HTTPIdleTimeout, 60*time.Second)
	defRate(&o.CommandRate, 50)
	defRate(&o.ChatRate, 2)
	defRate(&o.ChatBudget, 20)
	def(&o.SocialBatchEvery, 250*time.Millisecond)
	// Reactions and the chat burst follow the chat rate unless set.
	defInt(&o.ChatBurst, max(5, int(o.ChatRate)))
	defRate(&o.ReactRate, 4*o.ChatRate)
	defInt(&o.ReactBurst, 16)
	return o
}

// openFilesLimit is the process's soft limit on open files (Go raises it to
// the hard limit at start), or 1024 when unknown.
func openFilesLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > math.MaxInt32 {
		return 1024
	}
	return int(l.Cur)
}
