package proof

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// inject breaks things while the race runs: a third of the client
// connections dropped (they reconnect and retry under the same ids), the
// PostgreSQL restarted under the running nodes, and a node killed with
// SIGKILL and restarted (with several, the last: its sessions reconnect to
// the others). It returns what it did.
func (r *run) inject(ctx context.Context, env *nodes, say func(string, ...any)) []string {
	var done []string
	note := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		done = append(done, s)
		say("fault: %s", s)
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	var mu sync.Mutex
	note = func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		mu.Lock()
		done = append(done, s)
		mu.Unlock()
		say("fault: %s", s)
	}
	pgDone := make(chan struct{})
	go func() {
		defer close(pgDone)
		if !sleep(10 * time.Millisecond) {
			return
		}
		began := time.Now()
		if err := env.pg.Restart(context.WithoutCancel(ctx)); err != nil {
			note("PostgreSQL restart failed: %v", err)
			return
		}
		note("restarted PostgreSQL in %v", time.Since(began).Round(time.Millisecond))
	}()
	if !sleep(5 * time.Millisecond) {
		<-pgDone
		return done
	}
	dropped := 0
	for i := 0; i < len(r.parts); i += 3 {
		r.parts[i].drop()
		dropped++
	}
	note("dropped %d of %d client connections", dropped, len(r.parts))
	if sleep(15 * time.Millisecond) {
		began := time.Now()
		victim := env.all[len(env.all)-1]
		if err := victim.Kill(context.WithoutCancel(ctx)); err != nil {
			note("node restart failed: %v", err)
		} else if len(env.all) == 1 {
			note("killed the node with SIGKILL and restarted it in %v", time.Since(began).Round(time.Millisecond))
		} else {
			note("killed node %d of %d with SIGKILL (its sessions moved on) and restarted it in %v", len(env.all), len(env.all),
				time.Since(began).Round(time.Millisecond))
		}
	}
	<-pgDone
	return done
}
