package firehose

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"
)

// HealthReporter is a firehose that knows whether the store behind it
// answers. The hub asks it before work that would otherwise wait on a dead
// store (chat, reactions, presence, the social views) and reports it on
// /readyz and /metrics. A firehose that does not implement it (Memory) is
// always healthy.
type HealthReporter interface {
	Health() HealthState
}

// HealthState is a firehose's health as its tracker last decided it.
type HealthState struct {
	Degraded  bool      // the store does not answer: social work is refused
	Since     time.Time // when the current state began (zero: healthy since start)
	LastError string    // the newest failure's text, kept after recovery
	Failures  uint64    // calls that failed, ever
	Outages   uint64    // times the state turned degraded, ever
}

// HealthConfig sets a Health's hysteresis. Zero values mean the defaults.
type HealthConfig struct {
	// DegradeAfter: the state turns degraded when calls have failed, with
	// no success between them, for at least this long. Zero means 1s: a
	// burst of failures at one moment (one slow garbage collection of the
	// store) does not turn it, a store that stays silent does.
	DegradeAfter time.Duration
	// MinFailures is how many failures in a row that takes, at least.
	// Zero means 2.
	MinFailures int
	// RecoverAfter: a degraded state turns healthy when calls have
	// succeeded, with no failure between them, for at least this long.
	// Zero means 3s.
	RecoverAfter time.Duration
	// Name is the store's name in the log ("dynamodb").
	Name   string
	Logger zerolog.Logger
}

// Health tracks a store's health from the outcomes of the calls made to it
// (Observe), with hysteresis both ways so the node does not flap, and logs
// each change of state once — not each failed call.
type Health struct {
	cfg HealthConfig

	mu        sync.Mutex
	state     HealthState
	failStart time.Time // first failure of the current run of failures (zero: the last call succeeded)
	fails     int       // failures in the current run
	okStart   time.Time // first success since the last failure, while degraded
	now       func() time.Time
}

// NewHealth returns a tracker that starts healthy.
func NewHealth(cfg HealthConfig) *Health {
	if cfg.DegradeAfter <= 0 {
		cfg.DegradeAfter = time.Second
	}
	if cfg.MinFailures <= 0 {
		cfg.MinFailures = 2
	}
	if cfg.RecoverAfter <= 0 {
		cfg.RecoverAfter = 3 * time.Second
	}
	return &Health{cfg: cfg, now: time.Now}
}

// State is the current health (a nil Health is always healthy).
func (h *Health) State() HealthState {
	if h == nil {
		return HealthState{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// Degraded reports whether the store is considered down.
func (h *Health) Degraded() bool { return h.State().Degraded }

// Observe records the outcome of one call made with ctx. A call its caller
// cancelled says nothing about the store and is ignored; an error the store
// itself answered with (a failed condition, a validation error, an expired
// iterator: anything but a server fault) shows that it answers.
func (h *Health) Observe(ctx context.Context, err error) {
	if h == nil || err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	if err != nil && answered(err) {
		err = nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if err == nil {
		h.failStart, h.fails = time.Time{}, 0
		if !h.state.Degraded {
			return
		}
		if h.okStart.IsZero() {
			h.okStart = now
		}
		if now.Sub(h.okStart) >= h.cfg.RecoverAfter {
			h.cfg.Logger.Info().Str("store", h.cfg.Name).Dur("outage", now.Sub(h.state.Since).Round(time.Millisecond)).
				Msg("firehose recovered: the store answers again; the outbox relay publishes what was committed meanwhile")
			h.state.Degraded, h.state.Since, h.okStart = false, now, time.Time{}
		}
		return
	}
	h.state.Failures++
	h.state.LastError = err.Error()
	h.okStart = time.Time{}
	if h.failStart.IsZero() {
		h.failStart = now
	}
	h.fails++
	if !h.state.Degraded && h.fails >= h.cfg.MinFailures && now.Sub(h.failStart) >= h.cfg.DegradeAfter {
		h.state.Degraded, h.state.Since = true, h.failStart
		h.state.Outages++
		h.cfg.Logger.Warn().Str("store", h.cfg.Name).Err(err).Int("failed_calls", h.fails).
			Msg("firehose degraded: the store does not answer; money commands and lot reads go on, chat, reactions and presence are refused, and the outbox relay publishes committed events once it answers")
	}
}

// answered reports whether err is the store's own answer (it is up), not a
// timeout, a refused connection or a server fault.
func answered(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorFault() != smithy.FaultServer &&
		!errors.Is(err, context.DeadlineExceeded) && !isThrottle(ae.ErrorCode())
}

// isThrottle names the codes DynamoDB throttles writes and reads with:
// retries exhausted on them mean the store cannot take the load, which is
// an outage for us too. Streams' LimitExceededException is not one: it
// paces readers of a shard (the tailer backs off), and the store answered.
func isThrottle(code string) bool {
	switch code {
	case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded":
		return true
	}
	return false
}
