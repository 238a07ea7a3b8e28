package ledger

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestBinaryUUIDs: a uuid.UUID is encoded by the binary plan (not the
// driver.Valuer's text round trip), and every way the ledger passes one
// still means the same value: as a uuid, a NULL pointer, a set pointer,
// and where the database expects text.
func TestBinaryUUIDs(t *testing.T) {
	m := pgtype.NewMap()
	registerBinaryUUIDs(m)
	id := uuid.New()
	if _, ok := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id).(*uuidEncodePlan); !ok {
		t.Fatalf("a uuid.UUID is encoded by %T, not the binary plan", m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id))
	}
	if _, ok := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, &id).(*uuidEncodePlan); !ok {
		t.Fatalf("a *uuid.UUID is encoded by %T, not the binary plan", m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, &id))
	}
	got, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, nil)
	if err != nil || string(got) != string(id[:]) {
		t.Fatalf("encode = %x, %v; want the 16 bytes %x", got, err, id[:])
	}

	l := newLedger(t)
	ctx := context.Background()
	var (
		asUUID, asText string
		fromNil        *string
		fromPtr        string
	)
	err = l.pool.QueryRow(ctx, `SELECT $1::uuid::text, $2::uuid::text, $3::uuid::text, $4::text`,
		id, (*uuid.UUID)(nil), &id, id).Scan(&asUUID, &fromNil, &fromPtr, &asText)
	if err != nil {
		t.Fatal(err)
	}
	if asUUID != id.String() || fromNil != nil || fromPtr != id.String() || asText != id.String() {
		t.Fatalf("uuid %s went in as %q, nil as %v, pointer as %q, text as %q", id, asUUID, fromNil, fromPtr, asText)
	}
}
