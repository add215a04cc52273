package serde

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/braidhq/braid/schema/registry"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenBytes pins the bytes each converter writes for one record, so a
// change to the wire output shows up in review.
func TestGoldenBytes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"avro", "protobuf", "jsonschema"} {
		ctx := ctxT(t)
		reg := registry.New(registry.NewMemStore(), nil)
		c, err := New(reg, name, Options{Strategy: TopicStrategy, AutoRegister: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Encode(ctx, "events", eventValue(), eventSchema)
		if err != nil {
			t.Fatal(err)
		}
		v, err := reg.Version(ctx, "events-value", registry.Latest, false)
		if err != nil {
			t.Fatal(err)
		}
		got := "# schema registered as events-value\n" + v.Schema.Schema + "\n# record\n" + hex.Dump(b)
		file := filepath.Join("testdata", "golden", name+".golden")
		if *update {
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v (run with -update)", name, err)
		}
		if got != string(want) {
			t.Errorf("%s output changed:\n%s\nwant:\n%s", name, got, want)
		}
		if strings.Count(got, "\n") < 3 {
			t.Errorf("%s: empty golden", name)
		}
	}
}
