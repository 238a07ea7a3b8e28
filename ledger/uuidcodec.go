package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// binaryUUIDs makes every connection of the pool send a uuid.UUID as the
// 16 bytes of a binary uuid. Without it pgx knows uuid.UUID only as a
// driver.Valuer: it renders the text form, fails to send that as binary
// (building an error with fmt), parses the text back and sends that — on a
// batch of a thousand sales, several uuids each, that was the largest part
// of the node's CPU spent encoding a flush. A uuid sent where the database
// expects something else still takes the old way (the wrapped plan only
// applies when [16]byte encodes for that type).
func binaryUUIDs(cfg *pgxpool.Config) {
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		registerBinaryUUIDs(c.TypeMap())
		if after != nil {
			return after(ctx, c)
		}
		return nil
	}
}

func registerBinaryUUIDs(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncodePlan}, m.TryWrapEncodePlanFuncs...)
}

// tryWrapUUIDEncodePlan takes uuid.UUID and *uuid.UUID (pgx does not
// dereference a pointer to a driver.Valuer itself; a nil one is NULL before
// any plan runs).
func tryWrapUUIDEncodePlan(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	switch u := value.(type) {
	case uuid.UUID:
		return &uuidEncodePlan{}, [16]byte(u), true
	case *uuid.UUID:
		if u != nil {
			return &uuidEncodePlan{}, [16]byte(*u), true
		}
	}
	return nil, nil, false
}

type uuidEncodePlan struct{ next pgtype.EncodePlan }

func (p *uuidEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	switch u := value.(type) {
	case uuid.UUID:
		return p.next.Encode([16]byte(u), buf)
	case *uuid.UUID:
		if u == nil {
			return nil, nil
		}
		return p.next.Encode([16]byte(*u), buf)
	}
	return nil, fmt.Errorf("ledger: the uuid plan was given a %T", value)
}
