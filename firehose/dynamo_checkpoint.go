package firehose

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// Every node keeps one item, its node item, in one partition, so a Query
// counts the stream's readers:
//
//	pk = NODES, sk = NODE#<node>
//	node, stream (the ARN its positions belong to), heartbeat (ms),
//	expires (ms: the registration lapses then; 0 after a clean stop),
//	ttl (s: 24 hours, the stream's retention), shards (shard id -> position)
//
// It is both the node's registration (dynamo_registry.go) and its tailer's
// checkpoint: written at most every CheckpointEvery after messages were
// delivered, at every heartbeat, and when the tailer stops.
const nodesPK = "NODES"

// checkpointTTL is how long a checkpoint is kept: the stream's retention,
// past which its positions name records that are gone.
const checkpointTTL = 24 * time.Hour

// position is where a node's tailer stands in one shard.
type position struct {
	seq    string    // the last record applied: resume AFTER_SEQUENCE_NUMBER
	done   bool      // read to its end
	latest time.Time // begun at LATEST then, nothing read since
	// none of them: read from TRIM_HORIZON, nothing read yet
}

// encode and decodePosition are the position's form in the item.
func (p position) encode() string {
	switch {
	case p.done:
		return "done"
	case p.seq != "":
		return "seq:" + p.seq
	case !p.latest.IsZero():
		return "latest:" + strconv.FormatInt(p.latest.UnixMilli(), 10)
	}
	return "trim"
}

func decodePosition(s string) (position, bool) {
	kind, v, _ := strings.Cut(s, ":")
	switch kind {
	case "done":
		return position{done: true}, true
	case "seq":
		return position{seq: v}, v != ""
	case "latest":
		ms, err := strconv.ParseInt(v, 10, 64)
		return position{latest: time.UnixMilli(ms)}, err == nil
	case "trim":
		return position{}, true
	}
	return position{}, false
}

// checkpoint is what a node's tailer saved: where it stood in each shard of
// one stream.
type checkpoint struct {
	stream string
	shards map[string]position
	saved  time.Time
}

// positionOf is where sh stands, for the checkpoint.
func positionOf(sh *shard) position {
	switch {
	case sh.done:
		return position{done: true}
	case sh.last != "":
		return position{seq: sh.last}
	case !sh.began.IsZero():
		return position{latest: sh.began}
	}
	return position{}
}

// resumeAt sets where a shard listed on a cold start is read from, given
// the node's checkpoint (nil: none, or one of another stream). It returns
// false when the shard is not to be read. A shard the checkpoint names
// resumes where it stood; a shard it does not name whose parent it names,
// or whose parent is itself such a shard (descends), is new since the
// checkpoint and read from TRIM_HORIZON; any other closed shard is history
// before this node, and any other open one begins at LATEST.
func resumeAt(sh *shard, closed bool, cp *checkpoint, descends func(parent string) bool, now time.Time) {
	if cp != nil {
		if p, ok := cp.shards[sh.id]; ok {
			switch {
			case p.done:
				sh.done = true
			case p.seq != "":
				sh.last = p.seq // the iterator is acquired AFTER_SEQUENCE_NUMBER
			case !p.latest.IsZero():
				// Begun at LATEST and nothing read: whatever it holds from
				// then on is new. Creation times are rounded down to the
				// second, so a second before may come again.
				sh.from, sh.began, sh.notBefore = stypes.ShardIteratorTypeTrimHorizon, p.latest, p.latest.Add(-time.Second)
			default:
				sh.from = stypes.ShardIteratorTypeTrimHorizon
			}
			sh.resumed = true
			return
		}
		if sh.parent != "" && descends(sh.parent) {
			sh.from, sh.resumed = stypes.ShardIteratorTypeTrimHorizon, true
			return
		}
	}
	if closed {
		sh.done = true
		return
	}
	sh.from, sh.began = stypes.ShardIteratorTypeLatest, now
}

// loadCheckpoint reads this node's checkpoint; a missing one is empty.
func (d *Dynamo) loadCheckpoint(ctx context.Context) (checkpoint, error) {
	out, err := d.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(d.cfg.Table),
		Key:            map[string]types.AttributeValue{"pk": strAttr(nodesPK), "sk": strAttr(checkpointPK(d.cfg.Node))},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return checkpoint{}, fmt.Errorf("dynamodb: load tailer checkpoint: %w", err)
	}
	cp := checkpoint{stream: str(out.Item["stream"]), shards: map[string]position{}, saved: time.UnixMilli(num(out.Item["heartbeat"]))}
	if m, ok := out.Item["shards"].(*types.AttributeValueMemberM); ok {
		for id, v := range m.Value {
			if p, ok := decodePosition(str(v)); ok {
				cp.shards[id] = p
			}
		}
	}
	return cp, nil
}

// nodeUpdate is one write of the node item.
type nodeUpdate struct {
	stream string
	shards map[string]position // nil leaves the saved positions as they are
	stop   bool                // a clean stop: the registration lapses now
}

// saveNode writes the node item: a heartbeat, and the positions when given.
func (d *Dynamo) saveNode(ctx context.Context, u nodeUpdate) error {
	now := time.Now()
	expires := now.Add(3 * d.cfg.Heartbeat).UnixMilli()
	if u.stop {
		expires = 0
	}
	set := "SET #node = :node, #stream = :stream, #hb = :hb, #exp = :exp, #ttl = :ttl"
	values := map[string]types.AttributeValue{
		":node": strAttr(d.cfg.Node), ":stream": strAttr(u.stream), ":hb": numAttr(now.UnixMilli()), ":exp": numAttr(expires),
		":ttl": numAttr(now.Add(checkpointTTL).Unix()),
	}
	names := map[string]string{"#node": "node", "#stream": "stream", "#hb": "heartbeat", "#exp": "expires", "#ttl": "ttl"}
	if u.shards != nil {
		m := make(map[string]types.AttributeValue, len(u.shards))
		for id, p := range u.shards {
			m[id] = strAttr(p.encode())
		}
		set += ", #shards = :shards"
		names["#shards"] = "shards"
		values[":shards"] = &types.AttributeValueMemberM{Value: m}
	}
	_, err := d.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(d.cfg.Table),
		Key:                       map[string]types.AttributeValue{"pk": strAttr(nodesPK), "sk": strAttr(checkpointPK(d.cfg.Node))},
		UpdateExpression:          aws.String(set),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("dynamodb: save node item: %w", err)
	}
	return nil
}

// errNoCheckpoint marks a checkpoint that does not apply.
var errNoCheckpoint = errors.New("no checkpoint")

// usable returns the checkpoint when it belongs to stream arn and is
// younger than the stream's retention, or why not.
func (cp checkpoint) usable(arn string, now time.Time) (*checkpoint, error) {
	switch {
	case len(cp.shards) == 0:
		return nil, errNoCheckpoint
	case cp.stream != arn:
		return nil, fmt.Errorf("%w: saved for stream %s", errNoCheckpoint, cp.stream)
	case now.Sub(cp.saved) > checkpointTTL:
		return nil, fmt.Errorf("%w: saved %v ago, past the stream's retention", errNoCheckpoint, now.Sub(cp.saved).Round(time.Minute))
	}
	return &cp, nil
}
