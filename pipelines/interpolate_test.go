package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		got, subst, errs := ip.expand(c.in)
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
	if got, _, errs := near.expand("${file:pw}"); got != "s3cret" || errs != nil {
		t.Errorf("near, relative: %q %v", got, errs)
	}
	if got, _, errs := near.expand("${file:" + outside + "}"); got != "nope" || errs != nil {
		t.Errorf("near, absolute: %q %v", got, errs)
	}

	in := &interpolator{readFile: ReadFilesIn(root)}
	if got, _, errs := in.expand("${file:/pw}"); got != "s3cret" || errs != nil {
		t.Errorf("in, rooted: %q %v", got, errs)
	}
	for _, p := range []string{"../" + filepath.Base(filepath.Dir(outside)) + "/outside", "link", outside} {
		if got, _, errs := in.expand("${file:" + p + "}"); got != "" || len(errs) != 1 {
			t.Errorf("in, escape via %s: read %q, errs %v", p, got, errs)
		}
	}

	none := &interpolator{}
	if _, _, errs := none.expand("${file:/pw}"); len(errs) != 1 || !strings.Contains(errs[0].msg, "not allowed") {
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
