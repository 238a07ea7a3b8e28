package hub

import "testing"

func TestQueueIsBoundedInBytes(t *testing.T) {
	q := newQueue(10)
	frame := []byte("12345")
	if !q.push(frame) || !q.push(frame) {
		t.Fatal("two 5-byte frames fit in 10 bytes")
	}
	if q.push([]byte("x")) {
		t.Fatal("the queue passed its bound")
	}
	if got := q.take(); len(got) != 2 || &got[0][0] != &frame[0] {
		t.Fatal("frames are shared, not copied")
	}
	if !q.push(frame) {
		t.Fatal("space is freed by take")
	}
	if n := q.close(); n != 1 || q.push(frame) {
		t.Fatal("a closed queue drops and refuses")
	}
}
