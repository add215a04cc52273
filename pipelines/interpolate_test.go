package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	ip := &interpolator{env: testEnv}
	cases := []struct {
		in, want string
		subst    bool
		errs     int
	}{
		{"plain", "plain", false, 0},
		{"${PARTITIONS}", "6", true, 0},
		{"a${PARTITIONS}b${PARTITIONS}", "a6b6", true, 0},
		{"${UNSET:-dflt}", "dflt", true, 0},
		{"${EMPTY:-dflt}", "dflt", true, 0},
		{"${EMPTY}", "", true, 0},
		{"${UNSET:-}", "", true, 0},
		{"$${PARTITIONS}", "${PARTITIONS}", false, 0},
		{"cost: $5", "cost: $5", false, 0},
		{"${UNSET}", "", true, 1},
		{"${bad-name}", "", true, 1},
		{"x ${OPEN", "x ${OPEN", false, 1},
	}
	for _, c := range cases {
		got, subst, errs := ip.expand(c.in, nil)
		if got != c.want || subst != c.subst || len(errs) != c.errs {
			t.Errorf("expand(%q) = %q, %v, %v; want %q, %v, %d errors", c.in, got, subst, errs, c.want, c.subst, c.errs)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "pw"), []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}

	near := &interpolator{readFile: ReadFilesNear(root)}
	if got, _, errs := near.expand("${file:pw}", nil); got != "s3cret" || errs != nil {
		t.Errorf("near, relative: %q %v", got, errs)
	}
	if got, _, errs := near.expand("${file:"+outside+"}", nil); got != "nope" || errs != nil {
		t.Errorf("near, absolute: %q %v", got, errs)
	}

	in := &interpolator{readFile: ReadFilesIn(root)}
	if got, _, errs := in.expand("${file:/pw}", nil); got != "s3cret" || errs != nil {
		t.Errorf("in, rooted: %q %v", got, errs)
	}
	for _, p := range []string{"../" + filepath.Base(filepath.Dir(outside)) + "/outside", "link", outside} {
		if got, _, errs := in.expand("${file:"+p+"}", nil); got != "" || len(errs) != 1 {
			t.Errorf("in, escape via %s: read %q, errs %v", p, got, errs)
		}
	}

	none := &interpolator{}
	if _, _, errs := none.expand("${file:/pw}", nil); len(errs) != 1 || !strings.Contains(errs[0].msg, "not allowed") {
		t.Errorf("no reader: %v", errs)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "shop")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pipeline.yaml")
	src := "version: 1\ntopics: { t: {} }\nsinks:\n  s: { connector: parquet, topics: [t], config: { path: x } }\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, lints := Load(path, testCatalog())
	if len(lints) > 0 {
		t.Fatal(LintError(lints))
	}
	if p.Name != "shop" || p.File != path || p.Sinks[0].Group != "braid-shop-s" {
		t.Errorf("name %q file %q group %q", p.Name, p.File, p.Sinks[0].Group)
	}
	if p.Sinks[0].Config.String("path") != "x" || p.Sinks[0].Config.Duration("flush_interval").String() != "1m0s" {
		t.Errorf("config not validated with defaults")
	}
	if _, lints := Load(filepath.Join(dir, "missing.yaml"), testCatalog()); len(lints) != 1 || lints[0].Line != 1 {
		t.Errorf("missing file: %v", lints)
	}
}

func TestParseWithoutFiles(t *testing.T) {
	t.Parallel()
	src := "version: 1\nnats: { url: \"nats://127.0.0.1:4333\", token: \"${file:/etc/hostname}\" }\n"
	_, lints := ParseWith("api", []byte(src), testCatalog(), Options{})
	if len(lints) != 1 || lints[0].String() != `api:2:47: ${file:/etc/hostname}: secret files are not allowed here` {
		t.Errorf("lints: %v", lints)
	}
}

// A connector's own placeholders pass through untouched; everything else in
// the same setting, and the same name in other settings, is still
// interpolated.
func TestPlaceholders(t *testing.T) {
	t.Parallel()
	cat := testCatalog()
	cat.Connectors["jdbc-sink"] = sdk.Spec{Kind: sdk.KindSink, Summary: "Rows.", Fields: []sdk.Field{
		{Name: "table.name.format", Type: sdk.TypeString, Default: "${topic}", Placeholders: []string{"topic"}, Doc: "Table."},
		{Name: "tables", Type: sdk.TypeList, Placeholders: []string{"topic"}, Doc: "Tables."},
		{Name: "dsn", Type: sdk.TypeString, Doc: "DSN."},
	}}
	file := func(cfg string) []byte {
		return []byte("version: 1\ntopics: { t: }\nsinks:\n  w:\n    connector: jdbc-sink\n    topics: [t]\n    config:\n" + cfg)
	}
	p, lints := Parse("p.yaml", file(`      table.name.format: "${topic}_${PARTITIONS}"
      tables: ["${topic}", "$${topic}"]
`), cat, testEnv)
	if len(lints) > 0 {
		t.Fatalf("lints: %v", lints)
	}
	if got := p.Sinks[0].Config.String("table.name.format"); got != "${topic}_6" {
		t.Errorf("table.name.format = %q, want ${topic}_6", got)
	}
	if got := p.Sinks[0].Raw["tables"]; fmt.Sprint(got) != "[${topic} ${topic}]" {
		t.Errorf("tables = %v", got)
	}
	_, lints = Parse("p.yaml", file(`      table.name.format: "${topic}_${UNSET}"
      dsn: "${topic}"
`), cat, testEnv)
	want := []string{
		"p.yaml:8:36: environment variable UNSET is not set (set it, or give a default: ${UNSET:-default})",
		"p.yaml:9:13: environment variable topic is not set (set it, or give a default: ${topic:-default})",
	}
	if len(lints) != len(want) {
		t.Fatalf("lints: %v\nwant %v", lints, want)
	}
	for i, l := range lints {
		if l.String() != want[i] {
			t.Errorf("lint %d: %s\nwant %s", i, l, want[i])
		}
	}
}

// A UTF-8 byte order mark (some Windows editors write one) is not part of
// the first key, and columns on the first line stay where editors show them.
func TestBOM(t *testing.T) {
	t.Parallel()
	p, lints := Parse("bom.yaml", []byte("\ufeffversion: 1\ntopics: { t: }\n"), testCatalog(), nil)
	if len(lints) > 0 || p.Topic("t") == nil {
		t.Fatalf("lints: %v", lints)
	}
	_, lints = Parse("bom.yaml", []byte("\ufeffversion: 1\nbogus: 1\n"), testCatalog(), nil)
	if len(lints) != 1 || lints[0].Line != 2 || lints[0].Column != 1 {
		t.Fatalf("lints: %v", lints)
	}
	_, lints = Parse("bom.yaml", []byte("\ufeffversion: x\n"), testCatalog(), nil)
	if len(lints) != 1 || lints[0].Line != 1 || lints[0].Column != 10 {
		t.Fatalf("lints: %v", lints)
	}
}
