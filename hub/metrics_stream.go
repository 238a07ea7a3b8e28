package hub

import (
	"github.com/lotzero/lotzero/firehose"
	"github.com/prometheus/client_golang/prometheus"
)

// streamReader is a firehose that reads a shared stream (DynamoDB's) and
// reports its reads.
type streamReader interface{ StreamStats() firehose.StreamStats }

// registerStreamMetrics exposes the stream tailer's reads: how hard this
// node reads each shard, how many nodes share the shards, and what its
// checkpoints and redelivery cost.
func registerStreamMetrics(reg *prometheus.Registry, sr streamReader) {
	stat := func(f func(firehose.StreamStats) float64) func() float64 {
		return func() float64 { return f(sr.StreamStats()) }
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_firehose_getrecords_total", Help: "GetRecords calls this node made on the stream, all shards."},
			stat(func(s firehose.StreamStats) float64 { return float64(s.GetRecords) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lotzero_firehose_getrecords_per_shard_per_second", Help: "This node's GetRecords calls per second on its busiest shard, over the last 10 seconds."},
			stat(func(s firehose.StreamStats) float64 { return s.CallsPerShard })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lotzero_firehose_shards_reading", Help: "Stream shards this node is reading now."},
			stat(func(s firehose.StreamStats) float64 { return float64(s.Shards) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lotzero_firehose_stream_readers", Help: "Nodes registered as reading the stream (each reads every shard), this one included."},
			stat(func(s firehose.StreamStats) float64 { return float64(s.Readers) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lotzero_firehose_stream_readers_advised", Help: "Readers per shard AWS advises; past it a warning is logged."},
			stat(func(s firehose.StreamStats) float64 { return float64(s.AdvisedReaders) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_firehose_messages_total", Help: "Messages the stream tailer handed to this node's hub."},
			stat(func(s firehose.StreamStats) float64 { return float64(s.Delivered) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_firehose_duplicates_dropped_total", Help: "Social messages the stream delivered again, dropped by ID."},
			stat(func(s firehose.StreamStats) float64 { return float64(s.Duplicates) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lotzero_firehose_checkpoint_writes_total", Help: "Writes of this node's stream positions (its checkpoint)."},
			stat(func(s firehose.StreamStats) float64 { return float64(s.CheckpointWrites) })),
	)
}
