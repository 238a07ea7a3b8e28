package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// UnsafeRune reports whether r is refused in request ids, lot titles, user
// names and chat: a control character (C0, DEL, C1 — a NUL, for one, is
// not storable in PostgreSQL text) or a bidirectional embedding, override
// or isolate (U+202A–U+202E, U+2066–U+2069), which makes text display in
// another order than it is written. The directional marks U+200E and
// U+200F stay allowed: they reorder nothing on their own.
func UnsafeRune(r rune) bool {
	return unicode.IsControl(r) || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// CheckText refuses a field whose text holds an UnsafeRune; newlines are
// allowed where multiline text makes sense (chat).
func CheckText(name, s string, newlines bool) *Error {
	for _, r := range s {
		if r == '\n' && newlines {
			continue
		}
		if UnsafeRune(r) {
			return Errorf(ErrBadRequest, fmt.Sprintf("%s must not contain control characters or bidirectional overrides (U+%04X)", name, r))
		}
	}
	return nil
}

// DuplicateKey returns the first object key that appears twice in one
// object of the JSON text data, at any depth, or "" when none does. Go's
// decoders keep the last of duplicate keys, so a frame could say one thing
// to a reader that keeps the first. Keys are compared case-insensitively,
// as encoding/json matches them to struct fields. data must be valid JSON;
// an error means it was not.
func DuplicateKey(data []byte) (string, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	return duplicateKey(dec)
}

func duplicateKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("read JSON: %w", err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return "", nil
	}
	switch delim {
	case '[':
		for dec.More() {
			if k, err := duplicateKey(dec); k != "" || err != nil {
				return k, err
			}
		}
	case '{':
		seen := map[string]struct{}{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return "", fmt.Errorf("read JSON key: %w", err)
			}
			key, ok := tok.(string)
			if !ok {
				return "", errors.New("read JSON key: not a string")
			}
			folded := strings.ToLower(strings.ToUpper(key))
			if _, dup := seen[folded]; dup {
				return key, nil
			}
			seen[folded] = struct{}{}
			if k, err := duplicateKey(dec); k != "" || err != nil {
				return k, err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return "", fmt.Errorf("read JSON: %w", err)
	}
	return "", nil
}
