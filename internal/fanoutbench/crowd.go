package fanoutbench

import (
	"sync"
	"time"
)

// dialAll has n sessions dial at the same instant, unpaced, as a crowd
// does: each that gets in starts reading at once (as a browser does), and
// each that does not is counted in res.JoinFailures; res.JoinTime and
// res.Joined say how long it took and how many got in.
func dialAll(n int, res *Result, dial func(i int) (*client, error), read func(*client)) []*client {
	clients := make([]*client, n)
	var failMu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := dial(i)
			if err != nil {
				failMu.Lock()
				res.JoinFailures[failure(err)]++
				failMu.Unlock()
				return
			}
			clients[i] = c
			go read(c)
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	res.JoinTime = time.Since(began)
	for _, c := range clients {
		if c != nil {
			res.Joined++
		}
	}
	return clients
}

// closeAll ends the run's sessions; a close now is expected.
func closeAll(clients []*client) {
	for _, c := range clients {
		if c != nil {
			c.closing.Store(true)
			_ = c.conn.Close()
		}
	}
}
