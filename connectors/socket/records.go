package socket

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/braidhq/braid/connectors/sdk"
)

// settings are what both sources read from their config.
type settings struct {
	kind         string // tcp or udp, in errors
	listen       string
	framing      Framing
	maxLen       int
	syslogFormat string
	tz           *time.Location
	keyField     string
	bufferBytes  int64
	deadLetter   bool // on.invalid dead-letter: invalid frames become records with Err
	log          *slog.Logger
	env          sdk.Env
}

func newSettings(kind string, cfg sdk.Config, env sdk.Env) settings {
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tz, err := time.LoadLocation(cfg.String("syslog.timezone"))
	if err != nil {
		tz = time.UTC // refused by the spec's check already
	}
	return settings{
		kind:         kind,
		listen:       cfg.String("listen"),
		framing:      Framing(cfg.String("framing")),
		maxLen:       int(cfg.Int("max.length")),
		syslogFormat: cfg.String("syslog.format"),
		tz:           tz,
		keyField:     cfg.String("key.field"),
		bufferBytes:  cfg.Int("buffer.bytes"),
		deadLetter:   cfg.String("on.invalid") == invalidDeadLetter,
		log:          logger,
		env:          env,
	}
}

// newParser returns a syslog parser for one reader goroutine (a parser
// holds state, so readers never share one).
func (s *settings) newParser() syslog.Machine {
	opts3164 := []syslog.MachineOption{rfc3164.WithYear(rfc3164.CurrentYear{}), rfc3164.WithTimezone(s.tz), rfc3164.WithRFC3339()}
	switch s.syslogFormat {
	case syslog5424:
		return rfc5424.NewMachine()
	case syslog3164:
		return rfc3164.NewMachine(opts3164...)
	}
	return auto.NewMachine(auto.WithRFC3164Options(opts3164...))
}

// peer is who sent a frame.
type peer struct {
	addr, port string
	cn         string // the client certificate's common name, with mutual TLS
}

func peerOf(ap netip.AddrPort) peer {
	return peer{addr: ap.Addr().Unmap().String(), port: strconv.Itoa(int(ap.Port()))}
}

// batcher turns frames into records; one per reader goroutine.
type batcher struct {
	s       *settings
	parser  syslog.Machine
	invalid *atomic.Int64

	recs  []sdk.Record
	arena []byte
	hdrs  []sdk.Header
	cost  int64

	peer     peer
	received string // receive time of the current batch, RFC 3339
	at       time.Time
}

func newBatcher(s *settings, invalid *atomic.Int64) *batcher {
	b := &batcher{s: s, invalid: invalid}
	if s.framing == FramingSyslog {
		b.parser = s.newParser()
	}
	return b
}

// start begins a batch of frames received at once from p, about size
// bytes in n frames.
func (b *batcher) start(p peer, size, n int) {
	b.peer = p
	b.at = time.Now()
	b.received = b.at.UTC().Format(time.RFC3339Nano)
	b.recs = make([]sdk.Record, 0, n)
	if b.parser == nil {
		b.arena = make([]byte, 0, size)
	} else {
		// The JSON of a syslog message is its text plus about 150 bytes
		// of keys and quotes.
		b.arena = make([]byte, 0, size+160*n)
	}
	b.hdrs = make([]sdk.Header, 0, n*4)
}

// add turns one frame into a record. The frame may be reused afterwards.
// A syslog message that does not parse is an error for the caller to count.
func (b *batcher) add(frame []byte) error {
	rec := sdk.Record{Timestamp: b.at}
	var key []byte
	if b.parser != nil {
		m, err := b.parser.Parse(frame)
		if err != nil || m == nil {
			if err == nil {
				err = fmt.Errorf("not a syslog message")
			}
			return err
		}
		// The value is the fields encoded here, on the connection's
		// goroutine, as the json converter would, straight from the parsed
		// message: no map per record. Fields stay nil until someone asks
		// (a transform, a schema-aware converter): Structured decodes the
		// value back into exactly the fields fieldsOf gives.
		start := len(b.arena)
		b.arena = appendSyslogJSON(b.arena, m)
		rec.Value = b.arena[start:len(b.arena):len(b.arena)]
		rec.SetDecoder(decodeSyslogJSON)
		key = b.syslogKey(m)
	} else {
		start := len(b.arena)
		b.arena = append(b.arena, frame...)
		rec.Value = b.arena[start:len(b.arena):len(b.arena)]
		key = b.key(nil)
	}
	rec.Key = key
	b.push(rec, len(frame))
	return nil
}

// addInvalid turns a frame that cannot be a record (on.invalid dead-letter)
// into one with Err set, for the worker's dead-letter path: its value is
// the bytes the reader has of it, its error names the sender. The frame may
// be reused afterwards.
func (b *batcher) addInvalid(frame []byte, inv *invalidFrame) {
	msg := inv.msg
	if inv.truncated {
		msg += fmt.Sprintf("; the value holds its first %d bytes", len(frame))
	}
	start := len(b.arena)
	b.arena = append(b.arena, frame...)
	what := "frame"
	if b.s.kind == "udp" {
		what = "datagram"
	}
	rec := sdk.Record{Timestamp: b.at, Key: b.key(nil), Value: b.arena[start:len(b.arena):len(b.arena)],
		Err: fmt.Errorf("%s: invalid %s from %s: %s", b.s.kind, what, net.JoinHostPort(b.peer.addr, b.peer.port), msg)}
	b.push(rec, len(frame))
}

// push adds rec with the peer's headers to the batch.
func (b *batcher) push(rec sdk.Record, size int) {
	start := len(b.hdrs)
	b.hdrs = append(b.hdrs,
		sdk.Header{Key: HeaderPeerAddress, Value: b.peer.addr},
		sdk.Header{Key: HeaderPeerPort, Value: b.peer.port},
		sdk.Header{Key: HeaderReceived, Value: b.received})
	if b.peer.cn != "" {
		b.hdrs = append(b.hdrs, sdk.Header{Key: HeaderPeerName, Value: b.peer.cn})
	}
	rec.Headers = b.hdrs[start:len(b.hdrs):len(b.hdrs)]
	b.recs = append(b.recs, rec)
	b.cost += int64(size) + recordOverhead
}

func (b *batcher) key(fields map[string]any) []byte {
	switch b.s.keyField {
	case "":
		return nil
	case keyPeer:
		return []byte(b.peer.addr)
	}
	switch v := fields[b.s.keyField].(type) {
	case nil:
		return nil
	case string:
		return []byte(v)
	case time.Time:
		return []byte(v.Format(time.RFC3339Nano))
	default:
		return fmt.Append(nil, v)
	}
}

// full reports whether the batch should be handed over now: a batch never
// costs more than an eighth of the buffer, so readers share it and one
// always fits (the spec makes buffer.bytes hold a record of max.length).
func (b *batcher) full() bool {
	return len(b.recs) >= 256 || b.cost >= b.s.bufferBytes/8
}

// finish returns the batch and starts none; the caller acquires its cost.
func (b *batcher) finish() chunk {
	c := chunk{recs: b.recs, cost: b.cost}
	b.recs, b.arena, b.hdrs, b.cost = nil, nil, nil, 0
	return c
}

// fieldsOf maps a parsed message onto the record's fields; absent
// parts (RFC 5424's "-") are nil, so every record has the same fields.
func fieldsOf(m syslog.Message) map[string]any {
	var base *syslog.Base
	f := make(map[string]any, 12)
	switch msg := m.(type) {
	case *rfc5424.SyslogMessage:
		base = &msg.Base
		f["format"] = syslog5424
		f["version"] = int64(msg.Version)
		if msg.StructuredData != nil {
			sd := make(map[string]any, len(*msg.StructuredData))
			for id, params := range *msg.StructuredData {
				p := make(map[string]any, len(params))
				for k, v := range params {
					p[k] = v
				}
				sd[id] = p
			}
			f["structured_data"] = sd
		} else {
			f["structured_data"] = nil
		}
	case *rfc3164.SyslogMessage:
		base = &msg.Base
		f["format"] = syslog3164
		f["version"] = nil
		f["structured_data"] = nil
	default:
		f["format"] = "unknown"
		return f
	}
	f["facility"] = uint8Field(base.Facility)
	f["severity"] = uint8Field(base.Severity)
	if base.Timestamp != nil {
		f["timestamp"] = *base.Timestamp
	} else {
		f["timestamp"] = nil
	}
	f["host"] = stringField(base.Hostname)
	f["app"] = stringField(base.Appname)
	f["procid"] = stringField(base.ProcID)
	f["msgid"] = stringField(base.MsgID)
	f["message"] = stringField(base.Message)
	return f
}

func stringField(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func uint8Field(p *uint8) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}
