package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lotzero/lotzero/e2e/proof"
	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/hub"
	"github.com/lotzero/lotzero/static"
	"github.com/rs/zerolog"
)

// hubFlags are the serve command's own flags.
type hubFlags struct {
	addr           string
	authSecret     string
	allowedOrigins string
	node           string
	seed           bool
	queueBytes     int
	commandRate    float64
	commandBurst   int
	chatRate       float64
	relayEvery     time.Duration
	helloTimeout   time.Duration
	skipPublish    bool
	pprof          bool
	dynamoTable    string
	dynamoEndpoint string
	presenceTTL    time.Duration
}

func envBool(name string, def bool) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	return def
}

func envFloat(name string, def float64) float64 {
	var f float64
	if _, err := fmt.Sscan(os.Getenv(name), &f); err == nil {
		return f
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func (f *hubFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", env("LOTZERO_ADDR", ":8080"), "HTTP and WebSocket listen address host:port (env LOTZERO_ADDR)")
	fs.StringVar(&f.authSecret, "auth-secret", env("LOTZERO_AUTH_SECRET", ""), "token signing secret; empty is demo mode with demo login on (env LOTZERO_AUTH_SECRET)")
	fs.StringVar(&f.allowedOrigins, "allowed-origins", env("LOTZERO_ALLOWED_ORIGINS", ""), "comma-separated extra Origin hosts (patterns like *.example.com) allowed to open the WebSocket (env LOTZERO_ALLOWED_ORIGINS)")
	fs.StringVar(&f.node, "node", env("LOTZERO_NODE", ""), "this node's name; default the host name (env LOTZERO_NODE)")
	fs.BoolVar(&f.seed, "seed", envBool("LOTZERO_SEED", true), "create the demo data on start, idempotently (env LOTZERO_SEED)")
	fs.IntVar(&f.queueBytes, "queue-bytes", envInt("LOTZERO_QUEUE_BYTES", 1<<20), "per-session outbound queue bound in bytes; over it the session is closed with 4009 (env LOTZERO_QUEUE_BYTES)")
	fs.Float64Var(&f.commandRate, "command-rate", envFloat("LOTZERO_COMMAND_RATE", 50), "requests per second allowed per session (env LOTZERO_COMMAND_RATE)")
	fs.IntVar(&f.commandBurst, "command-burst", envInt("LOTZERO_COMMAND_BURST", 100), "request burst allowed per session (env LOTZERO_COMMAND_BURST)")
	fs.Float64Var(&f.chatRate, "chat-rate", envFloat("LOTZERO_CHAT_RATE", 2), "chat lines per second allowed per session (env LOTZERO_CHAT_RATE)")
	fs.DurationVar(&f.helloTimeout, "hello-timeout", envDuration("LOTZERO_HELLO_TIMEOUT", 10*time.Second), "close a connection with 4008 when no hello arrives within this (env LOTZERO_HELLO_TIMEOUT)")
	fs.BoolVar(&f.skipPublish, "fault-skip-publish", envBool("LOTZERO_FAULT_SKIP_PUBLISH", false), "fault injection for tests: never publish after commit, leaving delivery to the outbox relay (env LOTZERO_FAULT_SKIP_PUBLISH)")
	fs.StringVar(&f.dynamoTable, "dynamodb-table", env("DYNAMODB_TABLE", ""), "DynamoDB table for the firehose (chat, presence, fan-out between nodes); empty keeps it in process (env DYNAMODB_TABLE)")
	fs.StringVar(&f.dynamoEndpoint, "dynamodb-endpoint", env("DYNAMODB_ENDPOINT", ""), "DynamoDB endpoint override, e.g. DynamoDB Local (env DYNAMODB_ENDPOINT)")
	fs.DurationVar(&f.presenceTTL, "presence-ttl", envDuration("LOTZERO_PRESENCE_TTL", 30*time.Second), "how long a session stays present without a heartbeat (env LOTZERO_PRESENCE_TTL)")
	fs.BoolVar(&f.pprof, "pprof", envBool("LOTZERO_PPROF", false), "serve Go profiles at /debug/pprof/ (env LOTZERO_PPROF)")
	fs.DurationVar(&f.relayEvery, "relay-every", envDuration("LOTZERO_RELAY_EVERY", 2*time.Second), "how often the outbox relay publishes events a crashed node committed (env LOTZERO_RELAY_EVERY)")
}

func (f *hubFlags) options() (hub.Options, error) {
	if f.queueBytes < 4096 {
		return hub.Options{}, errors.New("--queue-bytes must be at least 4096")
	}
	if f.commandRate <= 0 || f.commandBurst < 1 || f.chatRate <= 0 {
		return hub.Options{}, errors.New("rates and bursts must be positive")
	}
	var origins []string
	for _, o := range strings.Split(f.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	return hub.Options{
		Node: f.node, AuthSecret: f.authSecret, AllowedOrigins: origins, QueueBytes: f.queueBytes,
		CommandRate: f.commandRate, CommandBurst: f.commandBurst, ChatRate: f.chatRate, RelayEvery: f.relayEvery,
		HelloTimeout: f.helloTimeout, SkipPublish: f.skipPublish, PresenceTTL: f.presenceTTL, ReactRate: f.chatRate * 4, ChatBurst: max(5, int(f.chatRate)),
	}, nil
}

// runServe runs the server until SIGINT/SIGTERM, then drains gracefully; a
// second signal exits at once.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hubFlags
	l, log, err := openLedgerLogged(ctx, "serve", args, stderr, hf.register)
	if err != nil {
		return err
	}
	defer l.Close()
	opts, err := hf.options()
	if err != nil {
		return err
	}
	opts.Logger = log
	if hf.seed {
		if _, err := l.Seed(ctx); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
	}
	ln, err := net.Listen("tcp", hf.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", hf.addr, err)
	}
	self := "http://" + loopbackAddr(ln.Addr())
	opts.Proof = func(ctx context.Context, req hub.ProofRequest) (any, error) {
		return proof.Run(ctx, proof.Config{Scenario: req.Scenario, N: req.N, K: req.K, URL: self})
	}
	fh, err := openFirehose(ctx, hf, log)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := hub.New(l, fh, opts)
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
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
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

// runToken mints a token with the configured secret.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lotzero token", flag.ContinueOnError)
	user := fs.String("user", "", "the token's user, [a-z0-9_-]{1,32}")
	roles := fs.String("role", hub.RoleBidder, "comma-separated roles: bidder, host, bot")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	secret := fs.String("auth-secret", env("LOTZERO_AUTH_SECRET", ""), "signing secret; must match the server's (env LOTZERO_AUTH_SECRET)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "lotzero token: no LOTZERO_AUTH_SECRET: minting a demo-mode token")
	}
	tok, err := hub.NewTokens(*secret).Mint(*user, strings.Split(*roles, ","), *ttl)
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
		Node: hf.node, PresenceTTL: hf.presenceTTL, Logger: log})
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
