package hub

import (
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hub's Prometheus series, on a registry of its own.
type metrics struct {
	reg           *prometheus.Registry
	sessions      prometheus.Gauge
	rooms         prometheus.Gauge
	commands      *prometheus.CounterVec
	droppedFrames prometheus.Counter
	slowCloses    prometheus.Counter
	crowds        prometheus.Counter
	socialDropped prometheus.Counter
	suppressed    *prometheus.CounterVec
	fanout        prometheus.Histogram
	published     prometheus.Counter
	relayed       prometheus.Counter
	deferred      prometheus.Counter
	refused       *prometheus.CounterVec
	// scheduleFailures counts failed scheduled attempts by work (tick,
	// settle); ticks and settles remember the failing lots, which the
	// scheduler backs off and lotzero_stuck_lots reports.
	scheduleFailures *prometheus.CounterVec
	ticks, settles   *lotBackoff
	limited          *prometheus.CounterVec
	// waitingWrites counts sessions whose connection has no descriptor
	// to write to without waiting: each of their events costs a goroutine.
	waitingWrites prometheus.Counter
}

// lagger is a firehose that knows how far behind its stream it is.
type lagger interface{ Lag() time.Duration }

func newMetrics(l Ledger, fh any) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lotzero_sessions", Help: "Open WebSocket sessions on this node."}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lotzero_rooms", Help: "Lot rooms with at least one session on this node."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lotzero_commands_total", Help: "Requests handled, by type and outcome (ok or error code)."},
			[]string{"type", "outcome"}),
		waitingWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lotzero_sessions_without_direct_writes_total",
			Help: "Sessions whose connection is not a plain TCP socket (TLS in process, a wrapped listener), so a room's event is written to each by a goroutine of its own instead of without waiting; 0 when the server listens itself."}),
		droppedFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lotzero_queue_dropped_frames_total", Help: "Queued frames discarded when a session closed."}),
		slowCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lotzero_slow_consumer_closes_total", Help: "Sessions closed with 4009 because their queue overflowed."}),
		crowds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lotzero_crowds_total", Help: "Crowds of at least 1,000 sessions that arrived and settled; the server then returns their arrival's garbage to the operating system."}),
		socialDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lotzero_social_frames_dropped_total", Help: "Chat, reaction and presence frames a slow session's queue dropped to make room (money frames are never dropped)."}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lotzero_social_suppressed_total", Help: "Chat lines and reactions not shown to a room (over its chat budget, or dispatch overloaded), by kind; batches report them as suppressed counts."},
			[]string{"kind"}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lotzero_event_delivery_seconds",
			Help:    "Time from a ledger event's commit to its frame being queued to every session of its room on this node.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lotzero_events_published_total", Help: "Ledger events published to the firehose after their commit."}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lotzero_events_relayed_total", Help: "Ledger events published by the outbox relay (committed but not published by their node)."}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lotzero_events_publish_deferred_total", Help: "Committed ledger events left to the outbox relay: the firehose was degraded, too many publishes were under way, or the publish beside the reply timed out."}),
	}
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lotzero_connections_refused_total", Help: "WebSocket connections refused before the upgrade, by reason (capacity)."},
		[]string{"reason"})
	m.ticks, m.settles = newLotBackoff(), newLotBackoff()
	m.scheduleFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lotzero_schedule_failures_total", Help: "Scheduled Dutch ticks and English settlements that failed, by work (tick, settle)."},
		[]string{"work"})
	for work, b := range map[string]*lotBackoff{"tick": m.ticks, "settle": m.settles} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lotzero_stuck_lots", Help: "Lots whose scheduled work failed at least 3 times in a row and is being retried with backoff, by work.",
			ConstLabels: prometheus.Labels{"work": work}},
			func() float64 { return float64(b.stuck()) }))
	}
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lotzero_limit_refusals_total",
		Help: "Requests and connections refused by a resource limit, by limit (user_sessions, ip_pending, pending, rooms, body_size, body_timeout, rate)."},
		[]string{"limit"})
	m.reg.MustRegister(m.waitingWrites, m.limited, m.scheduleFailures, m.refused, m.sessions, m.rooms, m.commands, m.droppedFrames, m.slowCloses, m.crowds, m.socialDropped, m.suppressed, m.fanout, m.published, m.relayed, m.deferred,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_ledger_occ_retries_total", Help: "Ledger transaction attempts retried after a conflict."},
			func() float64 { return float64(l.Stats().Conflicts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_ledger_commits_total", Help: "Ledger transactions committed."},
			func() float64 { return float64(l.Stats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_ledger_unknown_commits_total", Help: "Ledger COMMITs whose answer never came (a broken connection), settled by their retry."},
			func() float64 { return float64(l.Stats().UnknownCommits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_ledger_operations_total", Help: "Ledger operations decided by committed transactions (a batch decides several per commit)."},
			func() float64 { return float64(l.Stats().Operations) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_ledger_busy_total", Help: "Ledger operations that gave up after the retry bound."},
			func() float64 { return float64(l.Stats().Busy) }),
		prometheus.NewGoCollector(),
	)
	if lg, ok := fh.(lagger); ok {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lotzero_firehose_lag_seconds", Help: "Age of the last stream record the firehose applied on this node."},
			func() float64 { return lg.Lag().Seconds() }))
	}
	// The firehose's health (firehosehealth.go).
	if hr, ok := fh.(firehose.HealthReporter); ok {
		registerHealthMetrics(m.reg, hr)
	}
	// The stream tailer's reads (metrics_stream.go).
	if sr, ok := fh.(streamReader); ok {
		registerStreamMetrics(m.reg, sr)
	}
	return m
}
