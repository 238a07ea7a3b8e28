package hub

import (
	"context"
	"errors"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// The money path never waits on the social store. This file is how the hub
// knows the firehose's store is down (the firehose's own health tracker,
// fed by every call it makes) and the bounds on what may still wait for it:
//
//   - money commands reply when the ledger commits; their events are
//     published beside the reply (publisher.go), or left to the outbox
//     relay while the store is down;
//   - a lot page answers from the node's last presence read; a join, and
//     the first page of a lot on this node, wait at most socialWait for
//     presence, chat history and reaction totals, then answer with what
//     the node knows (watchers marked stale);
//   - chat, reactions and the lobby's views are refused at once with
//     unavailable while the store is down.

const (
	// socialWait is the longest a join or a lot page waits for the social
	// store, all its reads together; the reads go on in the background.
	socialWait = time.Second
	// socialTimeout bounds a chat line's or a reaction's publish.
	socialTimeout = 3 * time.Second
	// socialCallLimit bounds a social call the hub stopped waiting for
	// (the DynamoDB firehose bounds its calls itself; this is for any
	// other firehose).
	socialCallLimit = 10 * time.Second
)

// errFirehoseDown is what social work gets while the store is degraded.
var errFirehoseDown = errors.New("the social store is unavailable")

// firehoseHealth is the firehose's health; a firehose that does not track
// it (Memory) is always healthy.
func (h *Hub) firehoseHealth() firehose.HealthState {
	if hr, ok := h.fh.(firehose.HealthReporter); ok {
		return hr.Health()
	}
	return firehose.HealthState{}
}

// firehoseDown reports whether the firehose's store is degraded.
func (h *Hub) firehoseDown() bool { return h.firehoseHealth().Degraded }

// socialUnavailable is the reply to social work the store cannot take now.
func socialUnavailable(what string) *protocol.Error {
	return protocol.Errorf(protocol.ErrUnavailable, what+" is unavailable: the social store does not answer (money commands are not affected); try again later with the same id")
}

// socialError is the reply to social work that failed or was refused.
func (h *Hub) socialError(what string, err error) *protocol.Error {
	if !errors.Is(err, errFirehoseDown) && !h.firehoseDown() {
		h.log.Warn().Err(err).Str("what", what).Msg("social store call failed")
	}
	return socialUnavailable(what)
}

// waitBounded runs f on a context of its own and waits for it until ctx
// ends: a caller that stops waiting does not cancel the call, which other
// readers may share and which the firehose bounds itself.
func waitBounded(ctx context.Context, f func(context.Context) error) error {
	done := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), socialCallLimit)
		defer cancel()
		done <- f(c)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// registerHealthMetrics exposes the firehose's health on /metrics.
func registerHealthMetrics(reg *prometheus.Registry, hr firehose.HealthReporter) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lotzero_firehose_degraded", Help: "1 while the firehose's store does not answer (chat, reactions and presence refused; money unaffected), else 0."},
			func() float64 {
				if hr.Health().Degraded {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lotzero_firehose_degraded_since_seconds", Help: "Unix time the current firehose outage began; 0 while healthy."},
			func() float64 {
				if st := hr.Health(); st.Degraded {
					return float64(st.Since.UnixMilli()) / 1000
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_firehose_outages_total", Help: "Times the firehose's store turned degraded."},
			func() float64 { return float64(hr.Health().Outages) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_firehose_call_failures_total", Help: "Calls to the firehose's store that failed (timeouts, refused connections, server faults), after retries."},
			func() float64 { return float64(hr.Health().Failures) }),
	)
}

// firehoseReadiness is /readyz's firehose check: ok, or the outage and
// since when. The firehose never makes the node unready: the ledger alone
// serves money, and taking every node out of a load balancer because the
// shared social store is down would stop what still works.
func (h *Hub) firehoseReadiness(ctx context.Context) (check string, detail map[string]any) {
	st := h.firehoseHealth()
	detail = map[string]any{"degraded": st.Degraded}
	if st.Degraded {
		detail["since"] = protocol.Time(st.Since)
		detail["last_error"] = st.LastError
		return "degraded since " + protocol.Time(st.Since) + ": " + st.LastError, detail
	}
	if err := h.fh.Ready(ctx); err != nil {
		detail["error"] = err.Error()
		return err.Error(), detail
	}
	return "ok", detail
}
