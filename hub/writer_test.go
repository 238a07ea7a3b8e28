package hub

import "testing"

func TestQueueIsBoundedInBytes(t *testing.T) {
	q := newQueue(10)
	frame := []byte("12345")
	if ok, start := q.push(frame); !ok || !start {
		t.Fatal("the first push starts a writer")
	}
	if ok, start := q.push(frame); !ok || start {
		t.Fatal("a second push joins the running writer")
	}
	if ok, _ := q.push([]byte("x")); ok {
		t.Fatal("the queue passed its bound")
	}
	if got := q.next(); len(got) != 2 || &got[0][0] != &frame[0] {
		t.Fatal("frames are shared, not copied")
	}
	if got := q.next(); got != nil {
		t.Fatal("an empty queue ends the writer's turn")
	}
	if ok, start := q.push(frame); !ok || !start {
		t.Fatal("a push after the writer stopped starts a new one")
	}
	if n := q.close(); n != 1 {
		t.Fatal("close drops what is queued")
	}
	if ok, _ := q.push(frame); ok || q.next() != nil {
		t.Fatal("a closed queue refuses and yields nothing")
	}
}
