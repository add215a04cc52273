package pipelines

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Pipeline {
	t.Helper()
	p, lints := Parse("diff.yaml", []byte(src), testCatalog(), testEnv)
	if len(lints) > 0 {
		t.Fatalf("lints: %v", LintError(lints))
	}
	return p
}

const diffOld = `
version: 1
topics:
  orders: { partitions: 3 }
  old: {}
sources:
  web: { connector: http-webhook, topic: orders, config: { listen: ":9000" } }
sinks:
  lake: { connector: parquet, topics: [orders], config: { path: ./lake } }
  alerts: { connector: email, topics: [orders], config: { smtp: "smtp://a:hunter2@x", to: [a@example.com] } }
  gone: { connector: parquet, topics: [old], config: { path: ./old } }
`

const diffNew = `
version: 1
topics:
  orders: { partitions: 6, retention: 24h }
  events: {}
sources:
  web: { connector: http-webhook, topic: orders, config: { listen: ":9000" } }
  web2: { connector: http-webhook, topic: events, config: { listen: ":9001" } }
sinks:
  lake: { connector: parquet, topics: [orders, events], tasks: 2, config: { path: ./lake2 } }
  alerts: { connector: email, topics: [orders], config: { smtp: "smtp://a:other-pass@x", to: [a@example.com] } }
`

func TestDiff(t *testing.T) {
	t.Parallel()
	old, new := mustParse(t, diffOld), mustParse(t, diffNew)
	got := Diff(old, new).String()
	want := `~ topic orders: partitions 3 → 6; retention (none) → 24h0m0s
+ topic events
- topic old
+ source web2
~ sink lake: topics ["orders"] → ["orders","events"]; tasks 1 → 2; config.path ./lake → ./lake2
~ sink alerts: config.smtp [hidden] → [hidden]
- sink gone
`
	if got != want {
		t.Errorf("Diff:\n%s\nwant:\n%s", got, want)
	}
	for _, s := range []string{"hunter2", "other-pass"} {
		if strings.Contains(got, s) {
			t.Errorf("secret %q in diff", s)
		}
	}
}

func TestDiffUnchangedAndEdges(t *testing.T) {
	t.Parallel()
	a, b := mustParse(t, diffOld), mustParse(t, diffOld)
	if ch := Diff(a, b); !ch.Empty() || ch.String() != "no changes\n" {
		t.Errorf("same file, changes: %s", ch)
	}
	for _, c := range a.Connectors() {
		if c.Hash != b.Connector(c.Name).Hash || len(c.Hash) != 32 {
			t.Errorf("%s: hash not stable: %q vs %q", c.Name, c.Hash, b.Connector(c.Name).Hash)
		}
	}
	all := Diff(nil, a)
	if len(all.Topics) != 2 || len(all.Connectors) != 4 || all.NATS {
		t.Errorf("from nothing: %+v", all)
	}
	for _, ch := range Diff(a, nil).Connectors {
		if ch.Op != Removed {
			t.Errorf("to nothing: %v", ch)
		}
	}
	withNATS := mustParse(t, "version: 1\nnats: { url: nats://127.0.0.1:4333 }\n")
	if !Diff(nil, withNATS).NATS {
		t.Error("nats change not reported")
	}
}

// A change only in a transform's settings or its order changes the hash.
func TestDiffTransforms(t *testing.T) {
	t.Parallel()
	base := "version: 1\ntopics: { t: {} }\nsinks:\n  s: { connector: parquet, topics: [t], config: { path: x }, transforms: [%s] }\n"
	a := mustParse(t, strings.Replace(base, "%s", `{ filter: "a > 1" }`, 1))
	b := mustParse(t, strings.Replace(base, "%s", `{ filter: "a > 2" }`, 1))
	ch := Diff(a, b)
	if len(ch.Connectors) != 1 || ch.Connectors[0].Fields[0].Path != "transforms" {
		t.Fatalf("changes: %+v", ch)
	}
	if !strings.Contains(ch.String(), `a > 2`) {
		t.Errorf("String: %s", ch)
	}
}
