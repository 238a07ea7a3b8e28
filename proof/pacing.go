package proof

import (
	"context"
	"errors"
	"time"

	"github.com/lotzero/lotzero/protocol"
	"golang.org/x/time/rate"
)

// The runner's own set-up and clean-up behave as a well-behaved bot does on
// a server with default limits: the host's session sends its commands no
// faster than a session may, and anything refused as rate_limited or busy
// is asked again after the server's hint. Only the race itself is unpaced.

// hostRate keeps the host's one session under the server's default command
// rate (50 per second) with room to spare.
const hostRate = 40

func newHostPace() *rate.Limiter { return rate.NewLimiter(hostRate, 10) }

// retrying runs an HTTP call of the set-up until it is not refused for
// load, waiting as the server hints.
func retrying(ctx context.Context, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		var perr *protocol.Error
		if err == nil || !errors.As(err, &perr) || attempt >= 50 ||
			(perr.Code != protocol.ErrRateLimited && perr.Code != protocol.ErrBusy) {
			return err
		}
		wait := time.Duration(max(perr.RetryAfterMS, 50)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}
