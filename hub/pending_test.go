package hub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestPendingSlotsPerIPWaitThenRefuse(t *testing.T) {
	p := newPendingSlots(100, 2, 100*time.Millisecond)
	ctx := context.Background()
	r1, err1 := p.acquire(ctx, "10.0.0.1")
	_, err2 := p.acquire(ctx, "10.0.0.1")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := p.acquire(ctx, "10.0.0.1"); err != errPendingIP {
		t.Fatalf("third pending connection from one IP: %v, want errPendingIP", err)
	}
	if _, err := p.acquire(ctx, "10.0.0.2"); err != nil {
		t.Fatalf("another IP: %v", err)
	}
	// A waiting connection gets the slot another gives back.
	go func() {
		time.Sleep(20 * time.Millisecond)
		r1()
		r1() // releasing twice is harmless
	}()
	if _, err := p.acquire(ctx, "10.0.0.1"); err != nil {
		t.Fatalf("waiting for a freed slot: %v", err)
	}
	total := newPendingSlots(1, 10, 10*time.Millisecond)
	_, _ = total.acquire(ctx, "a")
	if _, err := total.acquire(ctx, "b"); err != errPendingTotal {
		t.Fatalf("past the node's pending cap: %v, want errPendingTotal", err)
	}
}

// waiting is how many connections wait for a slot from ip.
func (p *pendingSlots) waiting(ip string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if q := p.queues[ip]; q != nil {
		return q.Len()
	}
	return 0
}

// A freed slot goes to one waiter: the oldest of an address, and the
// addresses in turn, so a crowd from one address cannot keep another's
// connection waiting behind all of it.
func TestPendingSlotsServeInTurn(t *testing.T) {
	p := newPendingSlots(1, 10, 5*time.Second)
	ctx := context.Background()
	first, err := p.acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	wait := func(ip, name string, queued int) {
		go func() {
			release, err := p.acquire(ctx, ip)
			if err != nil {
				got <- name + ": " + err.Error()
				return
			}
			got <- name
			<-time.After(10 * time.Millisecond)
			release()
		}()
		for p.waiting(ip) != queued {
			time.Sleep(time.Millisecond)
		}
	}
	wait("a", "a1", 1)
	wait("a", "a2", 2)
	wait("a", "a3", 3)
	wait("b", "b1", 1)
	first()
	var order []string
	for range 4 {
		order = append(order, <-got)
	}
	if fmt.Sprint(order) != "[a1 b1 a2 a3]" {
		t.Fatalf("slots went to %v, want [a1 b1 a2 a3]", order)
	}
}

// Many connections from a few addresses take, give back and give up on
// slots at once: no cap is ever passed, and when all are done nothing is
// held or queued.
func TestPendingSlotsUnderACrowd(t *testing.T) {
	const maxTotal, maxIP = 8, 3
	p := newPendingSlots(maxTotal, maxIP, 2*time.Millisecond)
	sawWaiting := false // under p.mu
	check := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		sum := 0
		for ip, n := range p.byIP {
			if n > maxIP || n <= 0 {
				t.Errorf("%s holds %d slots", ip, n)
			}
			sum += n
		}
		if sum != p.total || p.total > maxTotal {
			t.Errorf("total %d, by address %d, cap %d", p.total, sum, maxTotal)
		}
		// Nobody waits while a slot they may take is free (no wake-up
		// lost), and the turns are the addresses that may go.
		for ip, q := range p.queues {
			sawWaiting = true
			if q.Len() == 0 {
				t.Errorf("%s has an empty queue", ip)
			}
			if p.total < maxTotal && p.byIP[ip] < maxIP {
				t.Errorf("%s waits with a slot free (total %d, its own %d)", ip, p.total, p.byIP[ip])
			}
		}
		if p.turns.Len() != len(p.inTurn) {
			t.Errorf("%d turns, %d addresses in turn", p.turns.Len(), len(p.inTurn))
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted, refused := 0, 0
	for g := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				ctx, cancel := context.WithCancel(context.Background())
				if i%17 == 0 {
					cancel() // a client that went away while it waited
				}
				release, err := p.acquire(ctx, fmt.Sprint("10.0.0.", g%5))
				cancel()
				check()
				mu.Lock()
				if err != nil {
					refused++
				} else {
					granted++
				}
				mu.Unlock()
				if err == nil {
					time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
					release()
					check()
				}
			}
		}()
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total != 0 || len(p.byIP) != 0 || len(p.queues) != 0 || p.turns.Len() != 0 || len(p.inTurn) != 0 {
		t.Fatalf("left: total %d, %d addresses holding, %d queues, %d turns (%d)", p.total, len(p.byIP), len(p.queues), p.turns.Len(), len(p.inTurn))
	}
	if granted == 0 || refused == 0 || !sawWaiting {
		t.Fatalf("granted %d, refused %d, waiting seen %v: the crowd did not wait and give up as meant", granted, refused, sawWaiting)
	}
}
