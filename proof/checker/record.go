package checker

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// A record file holds everything Check needs to judge a run again, offline
// and by a third party: its first line is {"final": …} (the final reads of
// every lot and wallet, and the server's audit), then the history, one
// operation per line (invocations, outcomes, observed wallets and events).

// recordFormat names the file's layout in its first line.
const recordFormat = "lotzero-proof-record/1"

type recordHead struct {
	Format string `json:"format"`
	Final  Final  `json:"final"`
}

// WriteRecord writes a run's final reads and history.
func WriteRecord(w io.Writer, f Final, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(recordHead{Format: recordFormat, Final: f}); err != nil {
		return err
	}
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadRecord reads what WriteRecord wrote.
func ReadRecord(r io.Reader) (Final, []Op, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	first, err := br.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return Final{}, nil, err
	}
	var head recordHead
	if err := json.Unmarshal(first, &head); err != nil {
		return Final{}, nil, fmt.Errorf("record: first line: %w", err)
	}
	if head.Format != recordFormat {
		return Final{}, nil, fmt.Errorf("record: format %q, want %q", head.Format, recordFormat)
	}
	ops, err := ReadJSONL(br)
	if err != nil {
		return Final{}, nil, err
	}
	return head.Final, ops, nil
}
