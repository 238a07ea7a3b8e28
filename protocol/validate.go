package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the contract.
const (
	MaxIDLen   = 64
	MaxChatLen = 500
)

// emojis is the documented set of reactions.
var emojis = []string{"👏", "🔥", "😮", "😂", "❤️", "💸", "🎉", "👀"}

// Emojis returns the documented set of reactions.
func Emojis() []string { return append([]string(nil), emojis...) }

var (
	regionRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	userRE   = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	intRE    = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
)

// ValidRegion reports whether r is a Region tag: [a-z0-9-]{1,32}.
func ValidRegion(r string) bool { return regionRE.MatchString(r) }

// ValidUser reports whether u is a user name: [a-z0-9_-]{1,32}.
func ValidUser(u string) bool { return userRE.MatchString(u) }

// field describes one request field: its JSON kind and whether it is required.
type field struct {
	kind     byte // 's' string, 'i' integer
	required bool
}

// requestFields lists, per request type, every field it accepts.
var requestFields = map[string]map[string]field{
	"join":   {"lot": {'s', true}, "since": {'i', false}},
	"leave":  {"lot": {'s', true}},
	"bid":    {"lot": {'s', true}, "amount": {'i', true}, "max": {'i', false}},
	"claim":  {"lot": {'s', true}, "qty": {'i', false}, "max_price": {'i', false}},
	"buy":    {"lot": {'s', true}, "qty": {'i', true}},
	"chat":   {"lot": {'s', true}, "text": {'s', true}},
	"react":  {"lot": {'s', true}, "emoji": {'s', true}},
	"wallet": {},
	"tick":   {"lot": {'s', true}, "step": {'i', false}},
	"open":   {"lot": {'s', true}},
	"close":  {"lot": {'s', true}},
	"ping":   {},
	// The lobby's live views (an extension of v1).
	"watch":   {},
	"unwatch": {},
}

// RequestTypes lists the request types, sorted.
func RequestTypes() []string {
	out := make([]string, 0, len(requestFields))
	for t := range requestFields {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ParseRequest decodes and validates one request frame strictly: a JSON
// object with a known type, an id, exactly the fields that type takes, each
// of the right JSON kind (amounts are JSON integers, never floats or
// strings) and within range. On failure it returns the request id when one
// could be read, so the error reply can still name it.
func ParseRequest(frame []byte) (Request, *Error) {
	var req Request
	raw, err := decodeObject(frame)
	if err != nil {
		return req, err
	}
	if idRaw, ok := raw["id"]; ok {
		_ = json.Unmarshal(idRaw, &req.ID)
	}
	if err := noDuplicateKeys(frame); err != nil {
		return req, err
	}
	typ, err := stringField(raw, "type")
	if err != nil {
		return req, err
	}
	req.Type = typ
	fields, ok := requestFields[typ]
	if !ok {
		if typ == "hello" {
			return req, Errorf(ErrBadRequest, "already authenticated: hello is only the first frame")
		}
		return req, Errorf(ErrBadRequest, fmt.Sprintf("unknown type %q; known: %s", typ, strings.Join(RequestTypes(), ", ")))
	}
	id, err := stringField(raw, "id")
	if err != nil {
		return req, err
	}
	if n := utf8.RuneCountInString(id); n < 1 || n > MaxIDLen {
		return req, Errorf(ErrBadRequest, fmt.Sprintf("id must be 1..%d characters", MaxIDLen))
	}
	if err := CheckText("id", id, false); err != nil {
		return req, err
	}
	req.ID = id
	for name := range raw {
		if name == "type" || name == "id" {
			continue
		}
		if _, ok := fields[name]; !ok {
			return req, Errorf(ErrBadRequest, fmt.Sprintf("%s takes no field %q", typ, name))
		}
	}
	for name, f := range fields {
		v, present := raw[name]
		if !present {
			if f.required {
				return req, Errorf(ErrBadRequest, fmt.Sprintf("%s needs field %q", typ, name))
			}
			continue
		}
		if err := req.set(name, f.kind, v); err != nil {
			return req, err
		}
	}
	// Only an absent qty means one: an explicit 0 is refused like any
	// other quantity below 1, not bought as a unit.
	if _, given := raw["qty"]; typ == "claim" && !given {
		req.Qty = 1
	}
	return req, req.validate()
}

func (r *Request) set(name string, kind byte, v json.RawMessage) *Error {
	if kind == 's' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return Errorf(ErrBadRequest, fmt.Sprintf("%s must be a string", name))
		}
		switch name {
		case "lot":
			r.Lot = s
		case "text":
			r.Text = s
		case "emoji":
			r.Emoji = s
		}
		return nil
	}
	n, err := integer(name, v)
	if err != nil {
		return err
	}
	switch name {
	case "since":
		r.Since = &n
	case "step":
		r.Step = &n
	case "amount":
		r.Amount = n
	case "max":
		r.Max = n
	case "qty":
		r.Qty = n
	case "max_price":
		r.MaxPrice = n
	}
	return nil
}

// validate checks ranges once every field is set.
func (r *Request) validate() *Error {
	if _, ok := requestFields[r.Type]["lot"]; ok && !uuidRE.MatchString(r.Lot) {
		return Errorf(ErrBadRequest, "lot must be a lot id (a lowercase UUID)")
	}
	switch r.Type {
	case "join":
		if r.Since != nil && *r.Since < 0 {
			return Errorf(ErrBadRequest, "since must be 0 or more")
		}
	case "tick":
		if r.Step != nil && *r.Step < 0 {
			return Errorf(ErrBadRequest, "step must be 0 or more")
		}
	case "bid":
		if err := amount("amount", r.Amount); err != nil {
			return err
		}
		if r.Max != 0 {
			if err := amount("max", r.Max); err != nil {
				return err
			}
			if r.Max < r.Amount {
				return Errorf(ErrBadRequest, "max must be at least amount")
			}
		}
	case "claim":
		if err := qty(r.Qty); err != nil {
			return err
		}
		if r.MaxPrice != 0 {
			if err := amount("max_price", r.MaxPrice); err != nil {
				return err
			}
		}
	case "buy":
		if err := qty(r.Qty); err != nil {
			return err
		}
	case "chat":
		text := strings.TrimSpace(r.Text)
		if n := utf8.RuneCountInString(text); n < 1 || n > MaxChatLen {
			return Errorf(ErrBadRequest, fmt.Sprintf("text must be 1..%d characters", MaxChatLen))
		}
		if err := CheckText("text", text, true); err != nil {
			return err
		}
		r.Text = text
	case "react":
		for _, e := range emojis {
			if r.Emoji == e {
				return nil
			}
		}
		return Errorf(ErrBadRequest, "emoji must be one of "+strings.Join(emojis, " "))
	}
	return nil
}

func amount(name string, v int64) *Error {
	if v < 1 || v > MaxAmount {
		return Errorf(ErrBadRequest, fmt.Sprintf("%s must be an integer number of minor units, 1..%d", name, MaxAmount))
	}
	return nil
}

func qty(v int64) *Error {
	if v < 1 || v > 1_000_000 {
		return Errorf(ErrBadRequest, "qty must be 1..1000000")
	}
	return nil
}

// integer reads a JSON integer: a float (1.5, 1e3), a string or anything
// else is refused, and so is a value beyond ±2^53-1.
func integer(name string, v json.RawMessage) (int64, *Error) {
	s := string(bytes.TrimSpace(v))
	if !intRE.MatchString(s) {
		return 0, Errorf(ErrBadRequest, fmt.Sprintf("%s must be a JSON integer", name))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxAmount || n < -MaxAmount {
		return 0, Errorf(ErrBadRequest, fmt.Sprintf("%s is out of range (at most %d)", name, MaxAmount))
	}
	return n, nil
}

func decodeObject(frame []byte) (map[string]json.RawMessage, *Error) {
	if !utf8.Valid(frame) {
		return nil, Errorf(ErrBadRequest, "frame is not valid UTF-8")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(frame))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, Errorf(ErrBadRequest, "frame must be one JSON object")
	}
	if dec.More() {
		return nil, Errorf(ErrBadRequest, "frame must hold exactly one JSON object")
	}
	return raw, nil
}

// noDuplicateKeys refuses a frame naming a key twice in one object: the
// decoder would keep the last, another reader the first.
func noDuplicateKeys(frame []byte) *Error {
	if k, err := DuplicateKey(frame); err != nil || k != "" {
		return Errorf(ErrBadRequest, fmt.Sprintf("duplicate key %q: each field may appear once", k))
	}
	return nil
}

func stringField(raw map[string]json.RawMessage, name string) (string, *Error) {
	v, ok := raw[name]
	if !ok {
		return "", Errorf(ErrBadRequest, fmt.Sprintf("missing field %q", name))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", Errorf(ErrBadRequest, fmt.Sprintf("%s must be a string", name))
	}
	return s, nil
}

// ParseHello decodes and validates the first frame. A frame that is not a
// well-formed hello is unauthorized (the contract closes such a socket with
// 4001); only a hello with a malformed region is a bad_request, which the
// client may correct.
func ParseHello(frame []byte) (Hello, *Error) {
	var h Hello
	raw, err := decodeObject(frame)
	if err != nil {
		return h, Errorf(ErrUnauthorized, "the first frame must be a hello: "+err.Message)
	}
	if err := noDuplicateKeys(frame); err != nil {
		return h, Errorf(ErrUnauthorized, "the first frame must be a hello: "+err.Message)
	}
	if h.Type, err = stringField(raw, "type"); err != nil {
		return h, Errorf(ErrUnauthorized, "the first frame must be a hello: "+err.Message)
	}
	if h.Type != "hello" {
		return h, Errorf(ErrUnauthorized, "the first frame must be hello")
	}
	if h.Token, err = stringField(raw, "token"); err != nil {
		return h, Errorf(ErrUnauthorized, "hello needs a token")
	}
	if h.Region, err = stringField(raw, "region"); err != nil || !ValidRegion(h.Region) {
		return h, Errorf(ErrBadRequest, "region must match [a-z0-9-]{1,32}")
	}
	if b, present := raw["batch"]; present {
		if json.Unmarshal(b, &h.Batch) != nil {
			return h, Errorf(ErrBadRequest, "batch must be true or false")
		}
	}
	return h, nil
}
