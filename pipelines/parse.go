package pipelines

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// Catalog is what a pipeline may use: connector and transform specs by their
// names in pipeline files, and the converter names. An empty Converters list
// leaves converter names unchecked.
//
// Connectors holds specs of either kind; since a source and a sink may share
// a name (connector: file), Sources and Sinks hold them by kind and are
// looked up first. NewCatalog fills them from sdk.Plugins.
type Catalog struct {
	Connectors map[string]sdk.Spec
	Sources    map[string]sdk.Spec
	Sinks      map[string]sdk.Spec
	Transforms map[string]sdk.Spec
	// Shorthands names the setting a bare value stands for, per transform
	// (filter: "x > 1" is filter: {expression: "x > 1"}). When nil, it is the
	// transform's first required setting; when set, a transform missing from
	// it takes settings only as a map.
	Shorthands map[string]string
	Converters []string
}

// NewCatalog builds a catalog from the registered connector plugins.
func NewCatalog(plugins sdk.Plugins, transforms map[string]sdk.Spec, converters []string) Catalog {
	return Catalog{Sources: plugins.Specs(sdk.KindSource), Sinks: plugins.Specs(sdk.KindSink),
		Transforms: transforms, Converters: converters}
}

// lookup returns the spec of a connector type of the given kind.
func (c Catalog) lookup(kind sdk.Kind, name string) (sdk.Spec, bool) {
	byKind := c.Sources
	if kind == sdk.KindSink {
		byKind = c.Sinks
	}
	if s, ok := byKind[name]; ok {
		return s, true
	}
	if s, ok := c.Connectors[name]; ok && s.Kind == kind {
		return s, true
	}
	return sdk.Spec{}, false
}

// names lists the connector types of a kind, sorted.
func (c Catalog) names(kind sdk.Kind) []string {
	set := map[string]bool{}
	for _, m := range []map[string]sdk.Spec{c.Connectors, c.Sources, c.Sinks} {
		for name, s := range m {
			if s.Kind == kind {
				set[name] = true
			}
		}
	}
	return sortedKeys(set)
}

// isConnector reports whether name is a connector type of any kind.
func (c Catalog) isConnector(name string) bool {
	_, a := c.lookup(sdk.KindSource, name)
	_, b := c.lookup(sdk.KindSink, name)
	return a || b
}

// Options tune ParseWith.
type Options struct {
	// Env looks up ${VAR}; nil means an empty environment.
	Env func(string) (string, bool)
	// ReadFile reads ${file:...} secrets; nil forbids them. See ReadFilesNear
	// and ReadFilesIn.
	ReadFile func(string) ([]byte, error)
}

// Parse reads a pipeline file named name (used in lints and for the default
// pipeline name). Secret files named by relative paths are read from name's
// folder. It returns the pipeline, or nil and every lint found, sorted by
// position.
func Parse(name string, data []byte, cat Catalog, env func(string) (string, bool)) (*Pipeline, []Lint) {
	return ParseWith(name, data, cat, Options{Env: env, ReadFile: ReadFilesNear(filepath.Dir(name))})
}

// Load reads and parses the pipeline file at path with the process
// environment.
func Load(path string, cat Catalog) (*Pipeline, []Lint) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []Lint{{File: path, Line: 1, Column: 1, Msg: fmt.Sprintf("cannot read the pipeline file: %v", errReason(err))}}
	}
	return Parse(path, data, cat, os.LookupEnv)
}

// ParseWith is Parse with explicit options; the API uses it to confine or
// forbid secret files in uploaded pipelines.
func ParseWith(name string, data []byte, cat Catalog, opts Options) (*Pipeline, []Lint) {
	p := &parser_{file: name, interp: &interpolator{env: opts.Env, readFile: opts.ReadFile}}
	if len(data) > MaxFileSize {
		p.lintAt(1, 1, "the file is larger than %d bytes", MaxFileSize)
		return nil, p.lints
	}
	// A BOM is invisible in editors, so columns count from after it.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	root := p.parseYAML(data)
	var pl *Pipeline
	if root != nil {
		c := &compiler{parser_: p, cat: cat}
		pl = c.pipeline(root)
	}
	p.interpLints()
	if len(p.lints) > 0 {
		sortLints(p.lints)
		return nil, p.lints
	}
	pl.File = name
	return pl, nil
}

// compiler turns the node tree into a Pipeline.
type compiler struct {
	*parser_
	cat    Catalog
	pl     *Pipeline
	topics []string // declared topic names, for references and hints
}

var topKeys = []string{"version", "name", "nats", "kafka", "topics", "sources", "sinks"}

func (c *compiler) pipeline(root *node) *Pipeline {
	if root.kind != kindMap {
		c.lint(root, "a pipeline file is a map with the keys %s, not %s", strings.Join(topKeys, ", "), root.show())
		return nil
	}
	c.checkKeys(root, "", topKeys)
	c.pl = &Pipeline{}
	c.version(root)
	c.pl.Name = defaultName(c.file)
	if n, ok := c.name(root.get("name"), "name", "pipeline name"); ok {
		c.pl.Name = n
	}
	c.pl.NATS = c.nats(root.get("nats"))
	c.pl.Kafka = c.kafka(root.get("kafka"))
	c.topicsSection(root.get("topics"))
	c.pl.Sources = c.connectors(root.get("sources"), sdk.KindSource)
	c.pl.Sinks = c.connectors(root.get("sinks"), sdk.KindSink)
	c.uniqueNames(root)
	return c.pl
}

func (c *compiler) version(root *node) {
	v := root.get("version")
	if !given(v) {
		c.lint(root, "version: missing; start the file with version: %d", Version)
		return
	}
	if n, ok := c.integer(v, "version", 0, 1<<31); ok && n != Version {
		c.lint(v, "version: this braid reads version %d pipeline files, not version %d", Version, n)
	}
}

// defaultName derives a pipeline name from its file: shop.yaml → shop, and
// shop/pipeline.yaml → shop.
func defaultName(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if base == "pipeline" || strings.HasPrefix(base, "pipeline.") {
		if dir := filepath.Base(filepath.Dir(file)); dir != "." && dir != string(filepath.Separator) {
			base = dir
		}
	}
	var b strings.Builder
	for _, r := range base {
		if sdk.ValidName(string(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := b.String()
	if !sdk.ValidName(name) {
		return "pipeline"
	}
	return name
}

var natsKeys = []string{"url", "creds", "token", "tls"}
var tlsKeys = []string{"ca", "cert", "key"}

func (c *compiler) nats(n *node) *NATS {
	if !c.isMap(n, "nats") {
		return nil
	}
	c.checkKeys(n, "nats", natsKeys)
	out := &NATS{}
	if u, ok := c.str(n.get("url"), "nats.url"); ok {
		out.URL = strings.TrimSpace(u)
		c.checkNATSURL(n.get("url"), out.URL)
	}
	out.Creds, _ = c.str(n.get("creds"), "nats.creds")
	out.Token, _ = c.str(n.get("token"), "nats.token")
	if t := n.get("tls"); c.isMap(t, "nats.tls") {
		c.checkKeys(t, "nats.tls", tlsKeys)
		out.TLS.CA, _ = c.str(t.get("ca"), "nats.tls.ca")
		out.TLS.Cert, _ = c.str(t.get("cert"), "nats.tls.cert")
		out.TLS.Key, _ = c.str(t.get("key"), "nats.tls.key")
		if (out.TLS.Cert == "") != (out.TLS.Key == "") {
			c.lint(t, "nats.tls: cert and key go together; give both or neither")
		}
	}
	if out.URL == "" {
		if out.Creds != "" || out.Token != "" || out.TLS != (TLS{}) {
			c.lint(n, "nats: credentials and TLS settings need a url; without one braid runs its embedded server")
		}
		return nil // "${NATS_URL:-}" left empty: the embedded server
	}
	return out
}

var kafkaKeys = []string{"listen", "users", "tls"}
var kafkaTLSKeys = []string{"cert", "key"}

// kafka reads the worker's Kafka protocol listener: listen: host:port, or
// off; users: a credentials file; tls: cert and key. Beyond loopback it
// needs both users and tls, as the REST API needs its token.
func (c *compiler) kafka(n *node) *Kafka {
	if !c.isMap(n, "kafka") {
		return nil
	}
	c.checkKeys(n, "kafka", kafkaKeys)
	out := &Kafka{}
	out.Users, _ = c.str(n.get("users"), "kafka.users")
	if t := n.get("tls"); c.isMap(t, "kafka.tls") {
		c.checkKeys(t, "kafka.tls", kafkaTLSKeys)
		out.TLS.Cert, _ = c.str(t.get("cert"), "kafka.tls.cert")
		out.TLS.Key, _ = c.str(t.get("key"), "kafka.tls.key")
		if out.TLS.Cert == "" || out.TLS.Key == "" {
			c.lint(t, "kafka.tls: give both cert and key (PEM files)")
			out.TLS = TLS{}
		}
	}
	v := n.get("listen")
	addr, ok := c.str(v, "kafka.listen")
	if !ok && given(v) {
		return nil // not a string: linted
	}
	if addr == "" {
		return out // the default address, with these users and TLS
	}
	if addr == "off" {
		return &Kafka{Listen: "off"}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.lint(v, "kafka.listen: %q is not host:port or off", addr)
		return nil
	}
	if pn, err := strconv.Atoi(port); err != nil || pn < 0 || pn > 65535 {
		c.lint(v, "kafka.listen: port %q is not a number in 0..65535", port)
		return nil
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		var missing []string
		if out.Users == "" {
			missing = append(missing, "users: FILE")
		}
		if out.TLS.Cert == "" {
			missing = append(missing, "tls: {cert, key}")
		}
		if len(missing) > 0 {
			c.lint(v, "kafka.listen: %q is beyond loopback, where clients must authenticate over TLS: add %s to kafka, or listen on loopback (127.0.0.1, ::1, localhost)", addr, strings.Join(missing, " and "))
			return nil
		}
	}
	out.Listen = addr
	return out
}

func (c *compiler) checkNATSURL(n *node, list string) {
	for _, u := range strings.Split(list, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		scheme, _, ok := strings.Cut(u, "://")
		if !ok {
			continue // host:port, which nats.go accepts
		}
		if !contains([]string{"nats", "tls", "ws", "wss"}, scheme) {
			c.lint(n, "nats.url: scheme %q is not one of nats, tls, ws, wss", scheme)
		}
	}
}

// uniqueNames lints a name used by both a source and a sink: connectors share
// one namespace in the API and in the state buckets.
func (c *compiler) uniqueNames(root *node) {
	seen := map[string]bool{}
	for _, s := range c.pl.Sources {
		seen[s.Name] = true
	}
	sinks := root.get("sinks")
	for _, s := range c.pl.Sinks {
		if seen[s.Name] {
			c.lint(sinks.keyNode(s.Name), "sinks.%s: a source already has this name; connector names must be unique in a pipeline", s.Name)
		}
	}
}

// topicRef checks a reference to a topic, with a hint for a typo.
func (c *compiler) topicRef(n *node, path string) (string, bool) {
	name, ok := c.str(n, path)
	if !ok {
		return "", false
	}
	if contains(c.topics, name) {
		return name, true
	}
	msg := fmt.Sprintf("%s: topic %s is not declared under topics:", path, n.show())
	if hint := sdk.Suggest(name, c.topics); hint != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", hint)
	}
	c.lint(n, "%s", msg)
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
