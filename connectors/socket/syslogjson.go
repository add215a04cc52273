package socket

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/convert"
)

// appendSyslogJSON appends a parsed message as the json converter encodes
// fieldsOf(m) (keys sorted, absent parts null), without building the map:
// the test compares the two byte for byte.
func appendSyslogJSON(b []byte, m syslog.Message) []byte {
	var base *syslog.Base
	var format string
	var version *uint16
	var sd *map[string]map[string]string
	switch msg := m.(type) {
	case *rfc5424.SyslogMessage:
		base, format, version, sd = &msg.Base, syslog5424, &msg.Version, msg.StructuredData
	case *rfc3164.SyslogMessage:
		base, format = &msg.Base, syslog3164
	default:
		return append(b, `{"format":"unknown"}`...)
	}
	b = append(b, `{"app":`...)
	b = appendOptString(b, base.Appname)
	b = append(b, `,"facility":`...)
	b = appendOptUint8(b, base.Facility)
	b = append(b, `,"format":"`...)
	b = append(b, format...)
	b = append(b, `","host":`...)
	b = appendOptString(b, base.Hostname)
	b = append(b, `,"message":`...)
	b = appendOptString(b, base.Message)
	b = append(b, `,"msgid":`...)
	b = appendOptString(b, base.MsgID)
	b = append(b, `,"procid":`...)
	b = appendOptString(b, base.ProcID)
	b = append(b, `,"severity":`...)
	b = appendOptUint8(b, base.Severity)
	b = append(b, `,"structured_data":`...)
	if sd == nil {
		b = append(b, "null"...)
	} else {
		b = appendStructuredData(b, *sd)
	}
	b = append(b, `,"timestamp":`...)
	if base.Timestamp == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base.Timestamp.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"version":`...)
	if version == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendUint(b, uint64(*version), 10)
	}
	return append(b, '}')
}

// appendStructuredData writes RFC 5424 structured data as an object of
// objects with sorted keys, as the json converter writes maps.
func appendStructuredData(b []byte, sd map[string]map[string]string) []byte {
	b = append(b, '{')
	var idBuf [4]string
	for i, id := range sortedKeys(idBuf[:0], sd) {
		if i > 0 {
			b = append(b, ',')
		}
		b = convert.AppendJSONString(b, id)
		b = append(b, ':', '{')
		params := sd[id]
		var keyBuf [8]string
		for j, k := range sortedKeys(keyBuf[:0], params) {
			if j > 0 {
				b = append(b, ',')
			}
			b = convert.AppendJSONString(b, k)
			b = append(b, ':')
			b = convert.AppendJSONString(b, params[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// sortedKeys appends m's keys to buf, sorted: a message's few elements and
// parameters sort in a buffer on the caller's stack.
func sortedKeys[V any](buf []string, m map[string]V) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

func appendOptString(b []byte, p *string) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return convert.AppendJSONString(b, *p)
}

func appendOptUint8(b []byte, p *uint8) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, uint64(*p), 10)
}

// syslogJSON is the value appendSyslogJSON writes, for decoding it back.
type syslogJSON struct {
	App            *string                      `json:"app"`
	Facility       *int64                       `json:"facility"`
	Format         string                       `json:"format"`
	Host           *string                      `json:"host"`
	Message        *string                      `json:"message"`
	MsgID          *string                      `json:"msgid"`
	ProcID         *string                      `json:"procid"`
	Severity       *int64                       `json:"severity"`
	StructuredData map[string]map[string]string `json:"structured_data"`
	Timestamp      *time.Time                   `json:"timestamp"`
	Version        *int64                       `json:"version"`
}

// decodeSyslogJSON is a syslog record's decoder: it gives the fields
// fieldsOf gives for the message the value was encoded from (a timestamp
// keeps its instant and offset, not its time.Location's name).
func decodeSyslogJSON(v []byte) (map[string]any, *schema.Schema, error) {
	var r syslogJSON
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, nil, fmt.Errorf("syslog record: %w", err)
	}
	if r.Format != syslog5424 && r.Format != syslog3164 {
		return map[string]any{"format": r.Format}, nil, nil
	}
	f := make(map[string]any, 12)
	f["format"] = r.Format
	f["version"] = optAny(r.Version)
	f["structured_data"] = nil
	if r.StructuredData != nil {
		sd := make(map[string]any, len(r.StructuredData))
		for id, params := range r.StructuredData {
			p := make(map[string]any, len(params))
			for k, v := range params {
				p[k] = v
			}
			sd[id] = p
		}
		f["structured_data"] = sd
	}
	f["facility"] = optAny(r.Facility)
	f["severity"] = optAny(r.Severity)
	f["timestamp"] = optAny(r.Timestamp)
	f["host"] = optAny(r.Host)
	f["app"] = optAny(r.App)
	f["procid"] = optAny(r.ProcID)
	f["msgid"] = optAny(r.MsgID)
	f["message"] = optAny(r.Message)
	return f, nil, nil
}

func optAny[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// syslogKey is the record key key.field names, read off the parsed message.
func (b *batcher) syslogKey(m syslog.Message) []byte {
	var base *syslog.Base
	switch msg := m.(type) {
	case *rfc5424.SyslogMessage:
		base = &msg.Base
	case *rfc3164.SyslogMessage:
		base = &msg.Base
	}
	str := func(p *string) []byte {
		if p == nil {
			return nil
		}
		return []byte(*p)
	}
	num := func(p *uint8) []byte {
		if p == nil {
			return nil
		}
		return strconv.AppendUint(nil, uint64(*p), 10)
	}
	switch k := b.s.keyField; {
	case base == nil || k == "" || k == keyPeer:
		return b.key(nil)
	case k == "host":
		return str(base.Hostname)
	case k == "app":
		return str(base.Appname)
	case k == "procid":
		return str(base.ProcID)
	case k == "msgid":
		return str(base.MsgID)
	case k == "message":
		return str(base.Message)
	case k == "facility":
		return num(base.Facility)
	case k == "severity":
		return num(base.Severity)
	case k == "timestamp":
		if base.Timestamp == nil {
			return nil
		}
		return []byte(base.Timestamp.Format(time.RFC3339Nano))
	}
	return b.key(fieldsOf(m))
}
