package firehose

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/rs/zerolog"
)

// DynamoConfig configures the DynamoDB firehose. Zero values mean the
// documented defaults.
type DynamoConfig struct {
	// Table is the single table (DYNAMODB_TABLE). Required.
	Table string
	// Endpoint overrides the service endpoint (DYNAMODB_ENDPOINT), e.g.
	// DynamoDB Local. Empty means AWS.
	Endpoint string
	// Region is the AWS Region; empty means the default chain's, or
	// us-east-1 with an Endpoint.
	Region string
	// Node names this server node (checkpoints, presence).
	Node string
	// PresenceTTL is how long a presence entry lives without a heartbeat.
	// Zero means 30s.
	PresenceTTL time.Duration
	// Poll is how long the tailer first waits when a shard had no records
	// (the wait then doubles up to MaxPoll). Zero means 200ms.
	Poll time.Duration
	// Discover is how often the tailer re-lists the stream's shards. Zero
	// means 10s.
	Discover time.Duration
	// EventRetention is how long a relayed ledger event item is kept (its
	// ttl). Zero means 7 days: join since older than that is the ledger's.
	EventRetention time.Duration
	// SocialRetention is how long chat lines, reactions, presence
	// announcements and their dedup markers are kept. Zero means 24h: the
	// chat history a join shows reaches back at most that far.
	SocialRetention time.Duration
	// FeedRetention is how long global feed items are kept. Zero means 24h.
	FeedRetention time.Duration
	// BoardRetention is how long an all-time leaderboard line or a reaction
	// total lives after its last change. Zero means 30 days.
	BoardRetention time.Duration
	// BoardShards and FeedShards spread the leaderboards' and the feed's
	// writes over that many partitions each, merged on read. Zero means 4.
	BoardShards int
	FeedShards  int
	Logger      zerolog.Logger
	// TailerConfig paces the stream tailer, its checkpoints and the node
	// registry (dynamo_pacing.go).
	TailerConfig
	// CallConfig bounds every call: deadline, attempt timeout, retries
	// (dynamo_deadlines.go).
	CallConfig
	// Health sets the hysteresis of the firehose's health (health.go).
	Health HealthConfig
}

// chatShards spreads one lot's chat and reactions over partitions, so a
// hot lot is not capped by one partition's write limit.
const chatShards = 8

// Dynamo is the firehose on one DynamoDB table: every publish is a
// conditional put (idempotent), and every node tails the table's stream
// and delivers what it reads to its subscribers.
type Dynamo struct {
	cfg     DynamoConfig
	db      *dynamodb.Client
	streams streamsAPI
	log     zerolog.Logger

	subs subscribers

	lastApplied atomic.Int64 // unix ns of the newest record's creation time applied
	lastPoll    atomic.Int64 // unix ns of the last successful GetRecords or discovery
	positions   sync.Map     // shard id -> last sequence number applied

	presence *dynamoPresence
	health   *Health // fed by every call's outcome (dynamo_deadlines.go)
	cancel   context.CancelFunc
	done     chan struct{}

	ts *tailState // the stream tailer's pacing, checkpoints and registration (dynamo_tailer.go)
}

// streamsAPI is the part of the DynamoDB Streams client the tailer uses.
type streamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// NewDynamo connects to DynamoDB. Call CreateTable (migrate) once, then
// Start to begin tailing.
func NewDynamo(ctx context.Context, cfg DynamoConfig) (*Dynamo, error) {
	if cfg.Table == "" {
		return nil, errors.New("dynamodb: a table name is required")
	}
	if cfg.PresenceTTL <= 0 {
		cfg.PresenceTTL = DefaultPresenceTTL
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Discover <= 0 {
		cfg.Discover = 10 * time.Second
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.EventRetention <= 0 {
		cfg.EventRetention = 7 * 24 * time.Hour
	}
	if cfg.SocialRetention <= 0 {
		cfg.SocialRetention = 24 * time.Hour
	}
	if cfg.FeedRetention <= 0 {
		cfg.FeedRetention = 24 * time.Hour
	}
	if cfg.BoardRetention <= 0 {
		cfg.BoardRetention = 30 * 24 * time.Hour
	}
	if cfg.BoardShards <= 0 {
		cfg.BoardShards = 4
	}
	if cfg.FeedShards <= 0 {
		cfg.FeedShards = 4
	}
	cfg.CallConfig = cfg.CallConfig.withDefaults()
	if cfg.Health.Name == "" {
		cfg.Health.Name = "dynamodb"
	}
	cfg.Health.Logger = cfg.Logger
	opts := cfg.CallConfig.boundedCalls()
	region := cfg.Region
	if region == "" && cfg.Endpoint != "" && os.Getenv("AWS_REGION") == "" {
		region = "us-east-1"
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if cfg.Endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		// A local endpoint takes any credentials; don't make users invent them.
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("dynamodb: load AWS config: %w", err)
	}
	d := &Dynamo{cfg: cfg, log: cfg.Logger, health: NewHealth(cfg.Health)}
	awsCfg.APIOptions = append(awsCfg.APIOptions, callDeadline(cfg.CallTimeout, d.health))
	d.db = dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			// DynamoDB Local's error responses carry no x-amz-crc32.
			o.DisableValidateResponseChecksum = true
		}
	})
	d.streams = dynamodbstreams.NewFromConfig(awsCfg, func(o *dynamodbstreams.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	d.presence = &dynamoPresence{d: d}
	d.initTailer()
	return d, nil
}

func (d *Dynamo) Name() string { return "dynamodb" }

// CreateTable creates the table with its stream (NEW_IMAGE) and TTL
// attribute when it does not exist, and waits until it is active.
func (d *Dynamo) CreateTable(ctx context.Context) error {
	_, err := d.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(d.cfg.Table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode:         types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamodb: create table %s: %w", d.cfg.Table, err)
	}
	if err := dynamodb.NewTableExistsWaiter(d.db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.cfg.Table)}, time.Minute); err != nil {
		return fmt.Errorf("dynamodb: wait for table %s: %w", d.cfg.Table, err)
	}
	if err == nil || inUse != nil {
		_, ttlErr := d.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(d.cfg.Table),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)},
		})
		if ttlErr != nil {
			// Already enabled, or unsupported by a local emulator: presence
			// reads filter expired entries anyway.
			d.log.Debug().Err(ttlErr).Msg("dynamodb: enable TTL")
		}
	}
	return nil
}

// Key shapes, documented in firehose/README.md.
func lotPK(lot string) string        { return "LOT#" + lot }
func eventSK(seq int64) string       { return fmt.Sprintf("EV#%020d", seq) }
func socialPK(lot, id string) string { return fmt.Sprintf("LOT#%s#S%d", lot, shardOf(id)) }
func presencePK(lot string) string   { return "PRES#" + lot }
func socialSK(kind string, seq int64) string {
	return fmt.Sprintf("%s#%016d", kind, seq)
}
func socialMarkSK(id string) string { return "ID#" + id }
func derivedSK(seq int64) string    { return fmt.Sprintf("DV#%020d", seq) }
func boardPK(scope, window string, shard int) string {
	return fmt.Sprintf("BOARD#%s#%s#%d", scope, window, shard)
}
func feedPK(t time.Time, shard int) string {
	return fmt.Sprintf("FEED#%s#%d", t.UTC().Format("2006-01-02T15"), shard)
}
func checkpointPK(node string) string { return "NODE#" + node }

func shardOf(id string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return h.Sum32() % chatShards
}

// strAttr and numAttr are DynamoDB string and number attribute values.
func strAttr(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func numAttr(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// Publish writes m as a stream-carried item, conditionally, so a repeat is a
// no-op: ledger events by (lot, seq), social messages by id. A ledger
// event is one put; its feed and leaderboard lines are derived later, off
// the reply path, by Views().Record on every node. A social message is
// numbered by socialSeq (no shared counter) and deduplicated by a marker
// item for its id in its partition: a chat line or presence announcement
// is the marker's and the line's conditional puts; a reaction is one
// transaction of the marker, the line and its lot's total — so a retry
// neither posts nor counts twice.
func (d *Dynamo) Publish(ctx context.Context, m Message) error {
	item := map[string]types.AttributeValue{
		"msg": &types.AttributeValueMemberBOOL{Value: true}, "kind": strAttr(m.Kind), "event": strAttr(m.Event), "lot": strAttr(m.Lot),
		"at": numAttr(m.At.UnixMilli()), "region": strAttr(m.Region), "data": strAttr(string(m.Data)),
	}
	if m.Actor != "" {
		item["actor"] = strAttr(m.Actor)
	}
	if !m.AsOf.IsZero() {
		item["asof"] = numAttr(m.AsOf.UnixMilli())
	}
	if len(m.Balances) > 0 {
		item["balances"] = strAttr(string(m.Balances))
	}
	if len(m.Wallets) > 0 {
		item["wallets"] = &types.AttributeValueMemberSS{Value: m.Wallets}
	}
	if m.Kind == KindLedger {
		item["pk"], item["sk"], item["seq"] = strAttr(lotPK(m.Lot)), strAttr(eventSK(m.Seq)), numAttr(m.Seq)
		item["ttl"] = numAttr(time.Now().Add(d.cfg.EventRetention).Unix())
		_, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(d.cfg.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		var dup *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &dup) {
			return fmt.Errorf("dynamodb: publish %s %s: %w", m.Kind, m.Event, err)
		}
		return nil // a dup was published before: nothing more to do
	}
	if m.ID == "" {
		return errors.New("dynamodb: a social message needs an id")
	}
	m.Seq = socialSeq(m.At, m.ID)
	pk, ttl := socialPK(m.Lot, m.ID), numAttr(time.Now().Add(d.cfg.SocialRetention).Unix())
	item["pk"], item["sk"], item["seq"], item["id"], item["ttl"] = strAttr(pk), strAttr(socialSK(m.Kind, m.Seq)), numAttr(m.Seq), strAttr(m.ID), ttl
	table := aws.String(d.cfg.Table)
	marker := map[string]types.AttributeValue{"pk": strAttr(pk), "sk": strAttr(socialMarkSK(m.ID)), "ttl": ttl, "seq": numAttr(m.Seq)}
	if m.Kind == KindReaction && m.Tally != nil && m.Tally.Emoji != "" {
		// A count is not idempotent: the marker, the line and the total's
		// ADD go in one transaction, so a retry never counts twice.
		err := d.transact(ctx, []types.TransactWriteItem{
			{Put: &types.Put{TableName: table, ConditionExpression: aws.String("attribute_not_exists(pk)"), Item: marker}},
			{Put: &types.Put{TableName: table, Item: item}},
			{Update: &types.Update{
				TableName:                 table,
				Key:                       map[string]types.AttributeValue{"pk": strAttr(pk), "sk": strAttr(reactionSK(m.Tally.Emoji))},
				UpdateExpression:          aws.String("ADD n :one SET #t = :t"),
				ExpressionAttributeNames:  map[string]string{"#t": "ttl"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": numAttr(1), ":t": numAttr(time.Now().Add(d.cfg.BoardRetention).Unix())},
			}},
		})
		if err != nil && !errors.Is(err, errAlreadyDone) {
			return fmt.Errorf("dynamodb: publish %s %s: %w", m.Kind, m.Event, err)
		}
		return nil
	}
	// A chat line or a presence announcement: two plain conditional puts,
	// cheaper than a transaction. The marker goes first and holds the
	// line's seq, so a retry after a crash between the two puts the same
	// line again (and a retry after both finds the line there: a no-op).
	var dup *types.ConditionalCheckFailedException
	_, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: marker, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	switch {
	case errors.As(err, &dup):
		got, gerr := d.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"pk": marker["pk"], "sk": marker["sk"]}})
		if gerr != nil {
			return fmt.Errorf("dynamodb: publish %s %s: read its marker: %w", m.Kind, m.Event, gerr)
		}
		if first := num(got.Item["seq"]); first != 0 {
			item["sk"], item["seq"] = strAttr(socialSK(m.Kind, first)), numAttr(first)
		}
	case err != nil:
		return fmt.Errorf("dynamodb: publish %s %s: %w", m.Kind, m.Event, err)
	}
	_, err = d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if err != nil && !errors.As(err, &dup) {
		return fmt.Errorf("dynamodb: publish %s %s: %w", m.Kind, m.Event, err)
	}
	d.wakeTailer(m)
	return nil
}

// socialSeq numbers a social message without a shared counter: its time in
// milliseconds since socialEpoch, then 12 bits of its id's hash. Lines of
// one lot rise with time; two lines share a number only if they were
// published in the same millisecond and their ids collide in 12 bits
// (clients dedupe by it). It stays below 2^53, so JavaScript reads it
// exactly, until 2^41 ms after the epoch (the year 2095).
func socialSeq(at time.Time, id string) int64 {
	return (at.UnixMilli()-socialEpoch)<<12 | int64(hashShard(id, 1<<12))
}

// socialEpoch is 2026-01-01T00:00:00Z in Unix milliseconds.
const socialEpoch = 1767225600000

func (d *Dynamo) Subscribe(ctx context.Context) (<-chan Message, error) {
	return d.subs.add(ctx), nil
}

// deliver hands a message read from the stream to every subscriber.
func (d *Dynamo) deliver(ctx context.Context, m Message) { d.subs.send(ctx, m) }

func (d *Dynamo) Presence() Presence { return d.presence }

// Ready fails when the table is unreachable or the tailer is stuck (no
// successful poll for 30s).
func (d *Dynamo) Ready(ctx context.Context) error {
	if last := d.lastPoll.Load(); last > 0 && time.Since(time.Unix(0, last)) > 30*time.Second {
		return fmt.Errorf("dynamodb: the stream tailer is stuck (last poll %v ago)", time.Since(time.Unix(0, last)).Round(time.Second))
	}
	_, err := d.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.cfg.Table)})
	return err
}

// Lag is the age of the last stream record applied (0 before the first).
func (d *Dynamo) Lag() time.Duration {
	last := d.lastApplied.Load()
	if last == 0 {
		return 0
	}
	return time.Since(time.Unix(0, last))
}

func (d *Dynamo) Close() error {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
	return nil
}
