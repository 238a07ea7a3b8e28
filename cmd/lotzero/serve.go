package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/hub"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/proof"
	"github.com/lotzero/lotzero/static"
	"github.com/rs/zerolog"
)

// hubFlags are the serve command's own flags.
type hubFlags struct {
	addr           string
	authSecret     string
	stripe         hub.StripeOptions
	allowedOrigins string
	publicOrigins  string
	maxTokenTTL    time.Duration
	auditEvery     time.Duration
	node           string
	seed           bool
	fs             *flagSet // to tell a default from a choice
	queueBytes     int
	maxSessions    int
	maxPerUser     int
	maxPendingIP   int
	maxPending     int
	maxRooms       int
	maxBodyBytes   int
	httpRead       time.Duration
	httpIdle       time.Duration
	reqRetention   time.Duration
	gcPercent      int
	commandRate    float64
	commandBurst   int
	chatRate       float64
	chatBudget     float64
	relayEvery     time.Duration
	helloTimeout   time.Duration
	pingInterval   time.Duration
	skipPublish    bool
	tailDelay      time.Duration
	shardReadRate  float64
	pprof          bool
	dynamoTable    string
	dynamoEndpoint string
	presenceTTL    time.Duration
	chatRetention  time.Duration
	feedRetention  time.Duration
	boardRetention time.Duration
}

func (f *hubFlags) register(fs *flagSet) {
	d := hub.Defaults()
	fs.StringVar(&f.addr, "addr", ":8080", "HTTP and WebSocket listen address host:port")
	fs.bind("addr", "LOTZERO_ADDR")
	fs.StringVar(&f.authSecret, "auth-secret", "", "token signing secret; empty is demo mode with demo login on")
	fs.bind("auth-secret", "LOTZERO_AUTH_SECRET")
	fs.StringVar(&f.stripe.SecretKey, "stripe-secret-key", "", "Stripe secret key (sk_…): card top-ups on, with --stripe-webhook-secret")
	fs.bind("stripe-secret-key", "STRIPE_SECRET_KEY")
	fs.StringVar(&f.stripe.WebhookSecret, "stripe-webhook-secret", "", "Stripe webhook signing secret (whsec_…) that verifies POST /api/stripe/webhook")
	fs.bind("stripe-webhook-secret", "STRIPE_WEBHOOK_SECRET")
	fs.StringVar(&f.stripe.APIBase, "stripe-api-base", "", "another Stripe API base URL (stripe-mock); default Stripe's")
	fs.bind("stripe-api-base", "STRIPE_API_BASE")
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated extra Origin hosts (patterns like *.example.com) allowed to open the WebSocket")
	fs.bind("allowed-origins", "LOTZERO_ALLOWED_ORIGINS")
	fs.StringVar(&f.publicOrigins, "public-origins", "", "comma-separated origins the server is reached at (https://auction.example.com or host:port), the only ones whose browsers may open the WebSocket besides --allowed-origins; default: the listen address and its localhost forms")
	fs.bind("public-origins", "LOTZERO_PUBLIC_ORIGINS")
	fs.DurationVar(&f.maxTokenTTL, "max-token-ttl", d.MaxTokenTTL, "longest token lifetime (exp − iat) accepted and minted")
	fs.bind("max-token-ttl", "LOTZERO_MAX_TOKEN_TTL")
	fs.DurationVar(&f.auditEvery, "audit-every", d.AuditEvery, "outside demo mode, GET /api/audit runs at most once per this on a node (burst 2)")
	fs.bind("audit-every", "LOTZERO_AUDIT_EVERY")
	fs.StringVar(&f.node, "node", "", "this node's name; default the host name")
	fs.bind("node", "LOTZERO_NODE")
	f.fs = fs
	fs.boolFlag(&f.seed, "seed", true, "create the demo data on start, idempotently; off by default with --dsql-endpoint or --auth-secret (a production deployment)")
	fs.bind("seed", "LOTZERO_SEED")
	fs.IntVar(&f.maxSessions, "max-sessions", d.MaxSessions, "WebSocket connections this node takes; past it new ones get HTTP 503 before the upgrade (default: the open-files limit less 512)")
	fs.bind("max-sessions", "LOTZERO_MAX_SESSIONS")
	fs.IntVar(&f.maxPerUser, "max-sessions-per-user", d.MaxSessionsPerUser, "WebSocket sessions one user may have on this node; past it a new one is closed with 4029")
	fs.bind("max-sessions-per-user", "LOTZERO_MAX_SESSIONS_PER_USER")
	fs.IntVar(&f.maxPendingIP, "max-pending-per-ip", d.MaxPendingPerIP, "connections from one IP that have not sent their hello; past it a new one waits up to the hello timeout, then gets HTTP 429")
	fs.bind("max-pending-per-ip", "LOTZERO_MAX_PENDING_PER_IP")
	fs.IntVar(&f.maxPending, "max-pending", d.MaxPending, "connections on this node that have not sent their hello; past it a new one waits up to the hello timeout, then gets HTTP 503 (default: max-sessions/4, at least 1024)")
	fs.bind("max-pending", "LOTZERO_MAX_PENDING")
	fs.IntVar(&f.maxRooms, "max-rooms-per-session", d.MaxRoomsPerSession, "lots one session may be joined to at once; past it join answers limit_exceeded")
	fs.bind("max-rooms-per-session", "LOTZERO_MAX_ROOMS_PER_SESSION")
	fs.IntVar(&f.maxBodyBytes, "max-body-bytes", d.MaxBodyBytes, "largest HTTP request body; past it HTTP 413 limit_exceeded")
	fs.bind("max-body-bytes", "LOTZERO_MAX_BODY_BYTES")
	fs.DurationVar(&f.httpRead, "http-read-timeout", d.HTTPReadTimeout, "time to read one HTTP request, headers and body (not the WebSocket once upgraded)")
	fs.bind("http-read-timeout", "LOTZERO_HTTP_READ_TIMEOUT")
	fs.DurationVar(&f.httpIdle, "http-idle-timeout", d.HTTPIdleTimeout, "how long an idle keep-alive HTTP connection is kept")
	fs.bind("http-idle-timeout", "LOTZERO_HTTP_IDLE_TIMEOUT")
	fs.DurationVar(&f.reqRetention, "request-retention", d.RequestRetention, "how long a request's outcome is kept for idempotent retries; older records are deleted")
	fs.bind("request-retention", "LOTZERO_REQUEST_RETENTION")
	fs.IntVar(&f.gcPercent, "gc-percent", defaultGCPercent, "how far the Go heap may grow past live data before a collection (Go's GOGC); lower keeps a crowd's memory near what it uses, at some CPU")
	fs.bind("gc-percent", "LOTZERO_GC_PERCENT")
	fs.IntVar(&f.queueBytes, "queue-bytes", d.QueueBytes, "per-session outbound queue bound in bytes; over it the session is closed with 4009")
	fs.bind("queue-bytes", "LOTZERO_QUEUE_BYTES")
	fs.Float64Var(&f.commandRate, "command-rate", d.CommandRate, "requests per second allowed per session")
	fs.bind("command-rate", "LOTZERO_COMMAND_RATE")
	fs.IntVar(&f.commandBurst, "command-burst", d.CommandBurst, "request burst allowed per session")
	fs.bind("command-burst", "LOTZERO_COMMAND_BURST")
	fs.Float64Var(&f.chatRate, "chat-rate", d.ChatRate, "chat lines per second allowed per session (reactions: four times it)")
	fs.bind("chat-rate", "LOTZERO_CHAT_RATE")
	fs.Float64Var(&f.chatBudget, "chat-budget", d.ChatBudget, "chat lines per second a room shows on this node; over it a line is counted in the room's next batch frame, not broadcast, and its reply says broadcast:false (reactions: four times it)")
	fs.bind("chat-budget", "LOTZERO_CHAT_BUDGET")
	fs.DurationVar(&f.helloTimeout, "hello-timeout", d.HelloTimeout, "close a connection with 4008 when no hello arrives within this")
	fs.bind("hello-timeout", "LOTZERO_HELLO_TIMEOUT")
	fs.DurationVar(&f.pingInterval, "ping-interval", d.PingInterval, "each session is pinged once per this, at its own point in it; one that has not answered by its next ping is closed (1001)")
	fs.bind("ping-interval", "LOTZERO_PING_INTERVAL")
	fs.boolFlag(&f.skipPublish, "fault-skip-publish", false, "fault injection for tests: never publish after commit, leaving delivery to the outbox relay")
	fs.bind("fault-skip-publish", "LOTZERO_FAULT_SKIP_PUBLISH")
	fs.DurationVar(&f.tailDelay, "fault-tail-delay", 0, "fault injection for tests: the DynamoDB stream tailer starts reading this long after the server, so a client can join before it catches up")
	fs.bind("fault-tail-delay", "LOTZERO_FAULT_TAIL_DELAY")
	fs.StringVar(&f.dynamoTable, "dynamodb-table", "", "DynamoDB table for the firehose (chat, presence, fan-out between nodes); empty keeps it in process")
	fs.bind("dynamodb-table", "DYNAMODB_TABLE")
	fs.StringVar(&f.dynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint override, e.g. DynamoDB Local")
	fs.bind("dynamodb-endpoint", "DYNAMODB_ENDPOINT")
	fs.Float64Var(&f.shardReadRate, "dynamodb-shard-read-rate", firehose.DefaultShardReadRate, "GetRecords calls per second per stream shard all nodes together may make; each node takes an equal share of the registered readers (more: lower cross-node latency, more reads)")
	fs.bind("dynamodb-shard-read-rate", "LOTZERO_DYNAMODB_SHARD_READ_RATE")
	fs.DurationVar(&f.presenceTTL, "presence-ttl", d.PresenceTTL, "how long a session stays present without a heartbeat")
	fs.bind("presence-ttl", "LOTZERO_PRESENCE_TTL")
	fs.DurationVar(&f.chatRetention, "chat-retention", 24*time.Hour, "DynamoDB firehose: how long chat lines and reactions are kept (the chat history's reach)")
	fs.bind("chat-retention", "LOTZERO_CHAT_RETENTION")
	fs.DurationVar(&f.feedRetention, "feed-retention", 24*time.Hour, "DynamoDB firehose: how long global activity feed items are kept")
	fs.bind("feed-retention", "LOTZERO_FEED_RETENTION")
	fs.DurationVar(&f.boardRetention, "board-retention", 30*24*time.Hour, "DynamoDB firehose: how long an all-time leaderboard line or reaction total lives after its last change")
	fs.bind("board-retention", "LOTZERO_BOARD_RETENTION")
	fs.boolFlag(&f.pprof, "pprof", false, "serve Go profiles at /debug/pprof/")
	fs.bind("pprof", "LOTZERO_PPROF")
	fs.DurationVar(&f.relayEvery, "relay-every", d.RelayEvery, "how often the outbox relay publishes events a crashed node committed")
	fs.bind("relay-every", "LOTZERO_RELAY_EVERY")
}

func (f *hubFlags) options() (hub.Options, error) {
	if f.queueBytes < 4096 {
		return hub.Options{}, errors.New("--queue-bytes must be at least 4096")
	}
	if f.maxSessions < 1 {
		return hub.Options{}, errors.New("--max-sessions must be at least 1")
	}
	if f.maxPerUser < 1 || f.maxPendingIP < 1 || f.maxPending < 1 || f.maxRooms < 1 || f.maxBodyBytes < 1024 {
		return hub.Options{}, errors.New("--max-sessions-per-user, --max-pending-per-ip, --max-pending and --max-rooms-per-session must be at least 1, --max-body-bytes at least 1024")
	}
	if f.httpRead <= 0 || f.httpIdle <= 0 {
		return hub.Options{}, errors.New("--http-read-timeout and --http-idle-timeout must be positive")
	}
	if f.reqRetention < time.Minute {
		return hub.Options{}, errors.New("--request-retention must be at least 1m: retries within it must still find their first outcome")
	}
	if f.shardReadRate <= 0 {
		return hub.Options{}, errors.New("--dynamodb-shard-read-rate must be positive")
	}
	if f.commandRate <= 0 || f.commandBurst < 1 || f.chatRate <= 0 || f.chatBudget <= 0 {
		return hub.Options{}, errors.New("rates and bursts must be positive")
	}
	if err := hub.CheckSecret(f.authSecret); err != nil {
		return hub.Options{}, fmt.Errorf("--auth-secret: %w", err)
	}
	if f.pingInterval < time.Second {
		return hub.Options{}, errors.New("--ping-interval must be at least 1s")
	}
	if f.maxTokenTTL <= 0 || f.auditEvery <= 0 {
		return hub.Options{}, errors.New("--max-token-ttl and --audit-every must be positive")
	}
	return hub.Options{
		Node: f.node, AuthSecret: f.authSecret, Stripe: f.stripe, AllowedOrigins: splitList(f.allowedOrigins), QueueBytes: f.queueBytes,
		PublicOrigins: splitList(f.publicOrigins), MaxTokenTTL: f.maxTokenTTL, AuditEvery: f.auditEvery,
		CommandRate: f.commandRate, CommandBurst: f.commandBurst, ChatRate: f.chatRate, ChatBudget: f.chatBudget, RelayEvery: f.relayEvery,
		HelloTimeout: f.helloTimeout, PingInterval: f.pingInterval, SkipPublish: f.skipPublish, PresenceTTL: f.presenceTTL, MaxSessions: f.maxSessions,
		MaxSessionsPerUser: f.maxPerUser, MaxPendingPerIP: f.maxPendingIP, MaxPending: f.maxPending,
		MaxRoomsPerSession: f.maxRooms, MaxBodyBytes: f.maxBodyBytes, HTTPReadTimeout: f.httpRead, HTTPIdleTimeout: f.httpIdle,
		RequestRetention: f.reqRetention,
	}, nil
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// defaultOrigins are the origins a browser reaches a server listening on a
// at: the address itself and its localhost forms, and, when it listens on
// every interface, each interface address. Names other than localhost are
// not guessed: a DNS-rebinding page could claim any of them.
func defaultOrigins(a net.Addr) []string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return []string{a.String()}
	}
	port := fmt.Sprint(tcp.Port)
	out := []string{net.JoinHostPort("localhost", port), net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)}
	if !tcp.IP.IsUnspecified() {
		return append(out, net.JoinHostPort(tcp.IP.String(), port))
	}
	addrs, _ := net.InterfaceAddrs() // none found: the localhost forms only
	for _, ia := range addrs {
		if ipn, ok := ia.(*net.IPNet); ok {
			out = append(out, net.JoinHostPort(ipn.IP.String(), port))
		}
	}
	return out
}

// defaultGCPercent is the server's GOGC. A node's live heap is mostly
// long-lived per-session state, and a crowd joining at once makes a burst of
// short-lived garbage (upgrades, join replies): Go's default of 100 lets
// the heap, and the memory the process keeps, reach twice the live data.
const defaultGCPercent = 50

// runServe runs the server until SIGINT/SIGTERM, then drains gracefully; a
// second signal exits at once.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hubFlags
	l, err := openLedger(ctx, "serve", args, stderr, hf.register)
	if err != nil {
		return err
	}
	log := l.log
	defer l.Close()
	opts, err := hf.options()
	if err != nil {
		return err
	}
	opts.Logger = log
	if hf.gcPercent < 10 {
		return errors.New("--gc-percent must be at least 10")
	}
	debug.SetGCPercent(hf.gcPercent)
	// A crowd's arrival leaves its garbage (HTTP upgrades, join replies)
	// in the heap; once it has settled, give it back to the system rather
	// than over the runtime's minutes of background scavenging.
	opts.CrowdArrived = debug.FreeOSMemory
	switch s := hf.stripe; {
	case s.Enabled():
		log.Info().Str("api", s.APIBase).Msg("Stripe on: card top-ups (POST /api/wallet/topup), refunds and disputes (POST /api/stripe/webhook), payouts by Transfer (POST /api/admin/payouts/{id})")
	case s.SecretKey != "" || s.WebhookSecret != "":
		return errors.New("card top-ups need both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
	default:
		log.Info().Msg("Stripe off (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET unset): top-ups and the webhook answer 404, payouts are settled by an operator only")
	}
	if !hf.fs.given("seed") && (l.Backend() == ledger.BackendDSQL || hf.authSecret != "") {
		// A production deployment starts without demo lots and funded demo
		// users; seeding stays one flag away.
		hf.seed = false
		log.Info().Msg("demo data not seeded: production settings (LOTZERO_SEED=true seeds it)")
	}
	if hf.seed {
		if _, err := l.Seed(ctx); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
	}
	ln, err := net.Listen("tcp", hf.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", hf.addr, err)
	}
	opts.Proof = proof.NewConsole("http://" + loopbackAddr(ln.Addr()))
	if len(opts.PublicOrigins) == 0 {
		opts.PublicOrigins = defaultOrigins(ln.Addr())
	}
	fh, err := openFirehose(ctx, hf, log)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := hub.New(l.Ledger, fh, opts)
	if err := h.Run(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	handler := h.Handler(static.Handler())
	if hf.pprof {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.Handle("/", handler)
		handler = mux
	}
	// Read and idle timeouts bound what a slow or silent HTTP client can
	// hold; an upgraded WebSocket has its deadlines cleared and its own
	// hello timeout and pings.
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: opts.HTTPReadTimeout, IdleTimeout: opts.HTTPIdleTimeout}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	mode := "demo mode: POST /api/session issues tokens"
	if !h.Tokens().Demo() {
		mode = "tokens from `lotzero token`"
	}
	log.Info().Str("addr", ln.Addr().String()).Str("ledger", string(l.Backend())).Str("firehose", fh.Name()).Msg("serving")
	fmt.Fprintf(stdout, "LotZero is live at %s (ledger %s, firehose %s, %s)\n", publicURL(ln.Addr()), l.Backend(), fh.Name(), mode)

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// A second signal ends the process at once.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-again
		fmt.Fprintln(stderr, "lotzero: second signal, exiting now")
		os.Exit(1)
	}()
	log.Info().Msg("shutting down: draining sessions")
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if err := h.Shutdown(shutCtx); err != nil {
		log.Warn().Err(err).Msg("shutdown")
	}
	log.Info().Msg("stopped")
	return nil
}

// loopbackAddr is how the server reaches itself (the web console's proof).
func loopbackAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		if ok {
			return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
		}
		return a.String()
	}
	return tcp.String()
}

// publicURL is the address to open in a browser.
func publicURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, fmt.Sprint(tcp.Port)))
}

// runToken mints a token with the configured secret. Without one it fails:
// a token signed with the public demo key is worth nothing to a production
// server and anyone can mint it, so printing one hides a misconfiguration.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	d := hub.Defaults()
	fs := newFlagSet("lotzero token")
	user := fs.String("user", "", "the token's user, [a-z0-9_-]{1,32}")
	roles := fs.String("role", hub.RoleBidder, "comma-separated roles: bidder, host, bot, operator")
	ttl := fs.Duration("ttl", d.MaxTokenTTL, "how long the token is valid; at most --max-token-ttl")
	maxTTL := fs.Duration("max-token-ttl", d.MaxTokenTTL, "the servers' longest token lifetime")
	fs.bind("max-token-ttl", "LOTZERO_MAX_TOKEN_TTL")
	secret := fs.String("auth-secret", "", "signing secret; must match the server's")
	fs.bind("auth-secret", "LOTZERO_AUTH_SECRET")
	if err := fs.parse(args, stderr); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("no auth secret: set LOTZERO_AUTH_SECRET (or --auth-secret) to the server's; demo-mode servers issue tokens at POST /api/session")
	}
	if err := hub.CheckSecret(*secret); err != nil {
		return err
	}
	tok, err := hub.NewTokens(*secret, *maxTTL).Mint(*user, strings.Split(*roles, ","), *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// openFirehose is the in-process firehose, or DynamoDB when a table is
// configured: its table is created if missing (as `lotzero migrate` does)
// and its stream tailed.
func openFirehose(ctx context.Context, hf hubFlags, log zerolog.Logger) (firehose.Firehose, error) {
	if hf.dynamoTable == "" {
		return firehose.NewMemory(hf.presenceTTL), nil
	}
	d, err := firehose.NewDynamo(ctx, firehose.DynamoConfig{Table: hf.dynamoTable, Endpoint: hf.dynamoEndpoint,
		Node: hf.node, PresenceTTL: hf.presenceTTL, SocialRetention: hf.chatRetention, FeedRetention: hf.feedRetention,
		BoardRetention: hf.boardRetention, Logger: log,
		TailerConfig: firehose.TailerConfig{TailDelay: hf.tailDelay, ShardReadRate: hf.shardReadRate}})
	if err != nil {
		return nil, err
	}
	if err := d.CreateTable(ctx); err != nil {
		return nil, err
	}
	if err := d.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return d, nil
}
