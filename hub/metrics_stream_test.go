package hub

import (
	"testing"

	"github.com/lotzero/lotzero/firehose"
)

// readingFirehose is a firehose that reports stream reads, as the DynamoDB
// one does.
type readingFirehose struct {
	firehose.Firehose
	stats firehose.StreamStats
}

func (f readingFirehose) StreamStats() firehose.StreamStats { return f.stats }

func TestStreamReadsAreInMetrics(t *testing.T) {
	fh := readingFirehose{stats: firehose.StreamStats{GetRecords: 42, CallsPerShard: 2.5, Shards: 4, Readers: 3, AdvisedReaders: 2,
		Delivered: 7, Duplicates: 1, CheckpointWrites: 9}}
	m := newMetrics(&scheduleLedger{}, fh)
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if c := s.GetCounter(); c != nil {
				got[mf.GetName()] = c.GetValue()
			} else if g := s.GetGauge(); g != nil {
				got[mf.GetName()] = g.GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"lotzero_firehose_getrecords_total": 42, "lotzero_firehose_getrecords_per_shard_per_second": 2.5,
		"lotzero_firehose_shards_reading": 4, "lotzero_firehose_stream_readers": 3, "lotzero_firehose_stream_readers_advised": 2,
		"lotzero_firehose_messages_total": 7, "lotzero_firehose_duplicates_dropped_total": 1, "lotzero_firehose_checkpoint_writes_total": 9,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	// The in-process firehose reads no stream: no such series.
	plain, err := newMetrics(&scheduleLedger{}, firehose.NewMemory(0)).reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range plain {
		if mf.GetName() == "lotzero_firehose_getrecords_total" {
			t.Fatal("the memory firehose reports stream reads")
		}
	}
}
