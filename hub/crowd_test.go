package hub

import (
	"testing"
	"time"
)

// A crowd is reported once it has settled, once per crowd; a trickle of
// sessions is never one.
func TestCrowdReportedOnceSettled(t *testing.T) {
	var c crowdWatch
	for range crowdSessions - 1 {
		c.note()
	}
	if c.settled(nanotime()+int64(time.Hour), time.Second) {
		t.Fatal("999 sessions reported as a crowd")
	}
	c.note()
	if c.settled(nanotime(), time.Second) {
		t.Fatal("a crowd reported while it was still arriving")
	}
	later := nanotime() + int64(2*time.Second)
	if !c.settled(later, time.Second) {
		t.Fatal("a settled crowd of 1,000 not reported")
	}
	if c.settled(later+int64(time.Second), time.Second) {
		t.Fatal("one crowd reported twice")
	}
	for range crowdSessions {
		c.note()
	}
	if c.settled(later+int64(crowdEvery/2), time.Second) {
		t.Fatal("a second crowd reported within crowdEvery of the first")
	}
	if !c.settled(later+int64(crowdEvery), time.Second) {
		t.Fatal("a second crowd not reported after crowdEvery")
	}
}
