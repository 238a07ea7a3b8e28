package firehose

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// CallConfig bounds every DynamoDB and DynamoDB Streams call the firehose
// makes — publishes, presence, the views, the stream tailer, checkpoint and
// registry writes — so that a store that stops answering (frozen, or
// unreachable) costs each caller a bounded wait and no goroutine piles up
// behind it. Zero values mean the defaults.
type CallConfig struct {
	// CallTimeout bounds one call, its retries included (a deadline on
	// its context; a caller's earlier deadline wins). Zero means 5s.
	CallTimeout time.Duration
	// AttemptTimeout bounds one HTTP attempt of a call (the HTTP client's
	// timeout). Zero means 2s.
	AttemptTimeout time.Duration
	// MaxAttempts is how many attempts a call makes at most, retried by
	// the SDK's standard retryer (exponential backoff with jitter, and
	// its retry quota, which stops retrying while most calls fail). Zero
	// means 3.
	MaxAttempts int
	// MaxBackoff is the longest wait between two attempts. Zero means
	// 500ms (the SDK's default is 20s, longer than any call may take).
	MaxBackoff time.Duration
}

func (c CallConfig) withDefaults() CallConfig {
	if c.CallTimeout <= 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 2 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 500 * time.Millisecond
	}
	return c
}

// boundedCalls are the AWS config options that give every call its
// attempt timeout and bounded retries.
func (c CallConfig) boundedCalls() []func(*awsconfig.LoadOptions) error {
	return []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(c.AttemptTimeout)),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.MaxAttempts
				o.MaxBackoff = c.MaxBackoff
			})
		}),
	}
}

// judgeBudget is the least time a call must have been given for its
// timing out to count against the store.
const judgeBudget = time.Second

// callDeadline is the middleware that puts CallTimeout on every call's
// context and reports each call's outcome (after its retries) to health.
func callDeadline(timeout time.Duration, health *Health) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("LotZeroCallDeadline",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				// A caller that gave the call less than judgeBudget and
				// ran out of it learns nothing about the store: its
				// failure is not counted (a slow but healthy store must
				// not be called down by its hurried callers).
				dl, hasDL := ctx.Deadline()
				hurried := hasDL && time.Until(dl) < judgeBudget
				cctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				out, md, err := next.HandleInitialize(cctx, in)
				if !(hurried && ctx.Err() != nil) {
					health.Observe(ctx, err)
				}
				return out, md, err
			}), middleware.Before)
	}
}

// probeHealth asks the table whether it answers, once a second while the
// firehose is degraded, so that recovery is noticed even when nothing else
// calls (the hub refuses social work meanwhile). Healthy, it costs nothing.
func (d *Dynamo) probeHealth(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if d.health.Degraded() {
				_, _ = d.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.cfg.Table)})
			}
		}
	}
}

// Health is the firehose's health (HealthReporter).
func (d *Dynamo) Health() HealthState { return d.health.State() }
