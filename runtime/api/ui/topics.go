package ui

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type topicRow struct {
	topicInfo
	Records int64
	DLQ     bool
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request) {
	details, err := c.topicDetails(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	dlqs := map[string]bool{}
	if conns, err := c.connectorsExpanded(r.Context()); err == nil {
		for _, e := range conns {
			if d := dlqOf(e.Info.Config); d != "" {
				dlqs[d] = true
			}
		}
	}
	rows := make([]topicRow, 0, len(details))
	for _, t := range details {
		rows = append(rows, topicRow{topicInfo: t, Records: t.records(), DLQ: dlqs[t.Name]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	c.page(w, r, http.StatusOK, "topics", "Topics", rows)
}

type groupRow struct {
	Group      string
	TotalLag   int64
	Partitions []groupPartition
}

type groupPartition struct {
	Partition         string
	Committed, Lag    int64
	HasLag, HasCommit bool
}

type topicView struct {
	topicInfo
	Records  int64
	GroupRow []groupRow
	Pretty   string
}

func (c *Console) topic(w http.ResponseWriter, r *http.Request) {
	var t topicInfo
	if err := c.get(r.Context(), "/topics/"+esc(r.PathValue("name")), &t); err != nil {
		c.fail(w, r, err)
		return
	}
	v := topicView{topicInfo: t, Records: t.records()}
	b, _ := json.MarshalIndent(t.Config, "", "  ")
	v.Pretty = string(b)
	for _, g := range t.Groups {
		row := groupRow{Group: g.Group, TotalLag: g.TotalLag}
		for _, p := range t.Partitions {
			k := strconv.Itoa(int(p.Partition))
			gp := groupPartition{Partition: k}
			gp.Committed, gp.HasCommit = g.Committed[k]
			gp.Lag, gp.HasLag = g.Lag[k]
			row.Partitions = append(row.Partitions, gp)
		}
		v.GroupRow = append(v.GroupRow, row)
	}
	c.page(w, r, http.StatusOK, "topic", t.Name, v)
}

// recordView is one record as the inspector shows it.
type recordView struct {
	Partition int32
	Offset    int64
	Timestamp string
	Key       decoded
	Value     decoded
	Headers   []configRow
	DLQ       map[string]string // braid.dlq.* headers without the prefix
	// DecodeError says why framed bytes did not decode with their schema.
	DecodeError string
}

// decoded is a key or value: its bytes as hex and, where they decode, as
// JSON or text.
type decoded struct {
	Null   bool
	Kind   string // json, text, binary
	Text   string
	Hex    string
	Size   int
	Schema string // "schema id N" for the Confluent wire format
}

// maxHex bounds the hex view of one value.
const maxHex = 4096

// withSchema shows a value the API decoded with its registered schema.
func withSchema(d decoded, v json.RawMessage, ref *schemaRef) decoded {
	if ref == nil || len(v) == 0 {
		return d
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, v, "", "  ") == nil {
		d.Kind, d.Text = strings.ToLower(ref.Type), shorten(pretty.String(), 64<<10)
	}
	d.Schema = ref.String()
	return d
}

func decode(b64 *string) decoded {
	if b64 == nil {
		return decoded{Null: true}
	}
	raw, err := base64.StdEncoding.DecodeString(*b64)
	if err != nil {
		return decoded{Kind: "text", Text: *b64}
	}
	d := decoded{Size: len(raw), Hex: hexDump(raw)}
	body := raw
	if len(raw) > 5 && raw[0] == 0 {
		// Confluent wire format: magic 0, a 4-byte schema id, the encoded body.
		d.Schema = fmt.Sprintf("schema id %d", binary.BigEndian.Uint32(raw[1:5]))
		body = raw[5:]
	}
	var pretty bytes.Buffer
	switch {
	case json.Valid(body) && json.Indent(&pretty, body, "", "  ") == nil:
		d.Kind, d.Text = "json", pretty.String()
	case utf8.Valid(body) && printable(body):
		d.Kind, d.Text = "text", string(body)
	default:
		d.Kind = "binary"
	}
	if d.Schema != "" && d.Kind == "binary" {
		d.Text = "(framed with " + d.Schema + ", which the registry does not know: see the hex)"
	}
	d.Text = shorten(d.Text, 64<<10)
	return d
}

func printable(b []byte) bool {
	for _, r := range string(b) {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

// hexDump is xxd's layout: offset, 16 bytes in hex, the printable ones.
func hexDump(b []byte) string {
	var sb strings.Builder
	n := min(len(b), maxHex)
	for i := 0; i < n; i += 16 {
		row := b[i:min(i+16, n)]
		fmt.Fprintf(&sb, "%08x  ", i)
		for j := 0; j < 16; j++ {
			if j < len(row) {
				fmt.Fprintf(&sb, "%02x ", row[j])
			} else {
				sb.WriteString("   ")
			}
			if j == 7 {
				sb.WriteByte(' ')
			}
		}
		sb.WriteString(" |")
		for _, x := range row {
			if x >= 0x20 && x < 0x7f {
				sb.WriteByte(x)
			} else {
				sb.WriteByte('.')
			}
		}
		sb.WriteString("|\n")
	}
	if len(b) > n {
		fmt.Fprintf(&sb, "… %d more bytes\n", len(b)-n)
	}
	return sb.String()
}

func toView(rec browsed) recordView {
	v := recordView{Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp,
		Value: withSchema(decode(rec.Value), rec.ValueDecoded, rec.ValueSchema), DecodeError: rec.DecodeError}
	if rec.KeyEncoding == "" {
		v.Key = decoded{Null: true}
	} else {
		k := rec.Key
		v.Key = withSchema(decode(&k), rec.KeyDecoded, rec.KeySchema)
	}
	keys := make([]string, 0, len(rec.Headers))
	for k := range rec.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if short, ok := strings.CutPrefix(k, "braid.dlq."); ok {
			if v.DLQ == nil {
				v.DLQ = map[string]string{}
			}
			v.DLQ[short] = rec.Headers[k]
		}
		v.Headers = append(v.Headers, configRow{Key: k, Value: rec.Headers[k]})
	}
	return v
}

// inspector is the record inspector's answer.
type inspector struct {
	Topic     string
	Partition int32
	Offset    string
	Limit     int
	Records   []recordView
	Next      int64
	Follow    bool
	Append    bool
	Error     string
}

// browse reads one page of records through the API, always as base64 so
// the console shows the exact bytes.
func (c *Console) browse(r *http.Request, topic string) inspector {
	q := r.URL.Query()
	in := inspector{Topic: topic, Offset: q.Get("offset"), Limit: 20, Follow: q.Get("follow") != "", Append: q.Get("append") != ""}
	if in.Offset == "" {
		in.Offset = "earliest"
	}
	if p, err := strconv.Atoi(q.Get("partition")); err == nil && p >= 0 {
		in.Partition = int32(p)
	}
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		in.Limit = min(l, 200)
	}
	v := url.Values{"partition": {strconv.Itoa(int(in.Partition))}, "offset": {in.Offset},
		"limit": {strconv.Itoa(in.Limit)}, "encoding": {"base64"}, "decode": {"schema"}}
	if ts := strings.TrimSpace(q.Get("time")); ts != "" {
		at, err := parseTime(ts)
		if err != nil {
			in.Error = err.Error()
			return in
		}
		v.Del("offset")
		v.Set("time", at.Format(time.RFC3339Nano))
		in.Offset = "time " + at.Format(time.RFC3339)
	}
	var page browsePage
	if err := c.get(r.Context(), "/topics/"+esc(topic)+"/records?"+v.Encode(), &page); err != nil {
		in.Error = err.Error()
		return in
	}
	for _, rec := range page.Records {
		in.Records = append(in.Records, toView(rec))
	}
	in.Next = page.NextOffset
	return in
}

// parseTime reads the inspector's time field: RFC 3339, or the browser's
// datetime-local value, taken as UTC.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: write it as 2026-01-02T15:04:05 (UTC) or with a zone (2026-01-02T15:04:05+02:00)", shorten(s, 40))
}

func (c *Console) records(w http.ResponseWriter, r *http.Request) {
	c.fragment(w, "topic", "records", c.browse(r, r.PathValue("name")))
}
