package main

import (
	"go/build"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/lotzero/lotzero"

// TestImportRules holds the layout the README promises against the code's
// own imports (tests excluded): the server never links e2e/, imports flow
// cmd -> hub -> {ledger, firehose, protocol}, the three core packages import
// nothing of ours, and the proof's checker imports only the standard library.
func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	deps := func(pkg string) []string {
		seen := map[string]bool{}
		var walk func(path string)
		walk = func(path string) {
			p, err := build.Import(path, root, 0)
			if err != nil {
				t.Fatalf("import %s: %v", path, err)
			}
			for _, imp := range p.Imports {
				if !seen[imp] {
					seen[imp] = true
					if strings.HasPrefix(imp, module) {
						walk(imp)
					}
				}
			}
		}
		walk(module + "/" + pkg)
		var out []string
		for d := range seen {
			out = append(out, d)
		}
		sort.Strings(out)
		return out
	}
	ours := func(ds []string) []string {
		var out []string
		for _, d := range ds {
			if strings.HasPrefix(d, module+"/") {
				out = append(out, strings.TrimPrefix(d, module+"/"))
			}
		}
		return out
	}

	for _, d := range ours(deps("cmd/lotzero")) {
		if strings.HasPrefix(d, "e2e") {
			t.Errorf("the server binary links %s: e2e/ is tests only", d)
		}
	}
	for _, core := range []string{"ledger", "firehose", "protocol"} {
		if got := ours(deps(core)); len(got) > 0 {
			t.Errorf("%s imports %v; it must import nothing of ours", core, got)
		}
	}
	for _, d := range deps("hub") {
		if rel, ok := strings.CutPrefix(d, module+"/"); ok && rel != "ledger" && rel != "firehose" && rel != "protocol" {
			t.Errorf("hub imports %s; it may import only ledger, firehose and protocol", rel)
		}
	}
	for _, d := range deps("proof/checker") {
		if strings.Contains(strings.Split(d, "/")[0], ".") {
			t.Errorf("proof/checker imports %s; it must import only the standard library", d)
		}
	}
}
