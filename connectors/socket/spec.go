package socket

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// Framing says how a byte stream (or a datagram) is cut into records.
type Framing string

// The framings; UDP has no length-prefixed framing (a datagram is a frame).
const (
	FramingLines  Framing = "lines"
	FramingLength Framing = "length-prefixed"
	FramingSyslog Framing = "syslog"
)

// Syslog formats accepted by framing syslog.
const (
	syslogAuto = "auto"
	syslog5424 = "rfc5424"
	syslog3164 = "rfc3164"
)

// keyPeer is the key.field value that keys records by the sender's IP.
const keyPeer = "peer"

// What a frame that cannot be a record does.
const (
	invalidSkip       = "skip"
	invalidClose      = "close"
	invalidDeadLetter = "dead-letter"
)

// Record headers every record of these sources carries.
const (
	HeaderPeerAddress = "braid.peer.address"
	HeaderPeerPort    = "braid.peer.port"
	HeaderReceived    = "braid.received"
	HeaderPeerName    = "braid.peer.cn" // the client certificate's common name, with mutual TLS
)

// recordOverhead is what one record costs in buffer.bytes beside its bytes
// (fields, headers, position): an estimate, so the bound holds for small records too.
const recordOverhead = 512

// syslogFieldNames are the field names a syslog record has, and so the key.field values
// allowed with framing syslog (besides peer).
var syslogFieldNames = []string{"timestamp", "host", "app", "procid", "msgid", "structured_data", "message",
	"facility", "severity", "version", "format"}

func commonFields(kind string, framings []string, defaultListen string) []sdk.Field {
	return []sdk.Field{
		{Name: "listen", Type: sdk.TypeString, Default: defaultListen, Check: checkListen,
			Doc: "Address to listen on, host:port. Beyond loopback (`:" + portOf(defaultListen) + "`, `0.0.0.0`, a LAN address) see `listen.insecure`."},
		{Name: "listen.insecure", Type: sdk.TypeBool, Default: false,
			Doc: insecureDoc(kind)},
		{Name: "framing", Type: sdk.TypeString, Default: string(FramingLines), Enum: framings,
			Doc: framingDoc(kind)},
		{Name: "max.length", Type: sdk.TypeInt, Default: 64 << 10, Min: 1, Max: 16 << 20,
			Doc: "Largest line, frame or syslog message in bytes. A longer one is never held in memory whole: it is counted in the `invalid_frames` gauge, logged with the sender's address, and skipped (or its start dead-lettered, see `on.invalid`)."},
		{Name: "syslog.format", Type: sdk.TypeString, Default: syslogAuto, Enum: []string{syslogAuto, syslog5424, syslog3164},
			Doc: "With framing syslog: `auto` tells RFC 5424 from RFC 3164 (BSD) per message; the others accept only that format."},
		{Name: "syslog.timezone", Type: sdk.TypeString, Default: "UTC", Check: checkTimezone,
			Doc: "Time zone of RFC 3164 timestamps, which carry none (an IANA name such as `Europe/Berlin`, or `Local`). Their year is the current one."},
		{Name: "key.field", Type: sdk.TypeString, Example: "host",
			Doc: "What becomes each record's key: `peer` (the sender's IP address), or with framing syslog the name of a parsed field (`host`, `app`, …). Default: no key (records spread round-robin)."},
		{Name: "buffer.bytes", Type: sdk.TypeInt, Default: 32 << 20, Min: 64 << 10, Max: 4 << 30,
			Doc: bufferDoc(kind)},
	}
}

// onInvalidField is on.invalid: UDP has no connection to close.
func onInvalidField(kind string) sdk.Field {
	what, enum := "frame", []string{invalidSkip, invalidClose, invalidDeadLetter}
	doc := "What to do with a frame longer than `max.length`, a syslog message that does not parse, or (framing syslog) " +
		"a bad octet count; each is logged with the sender's address and counted in `invalid_frames`. `skip` drops it " +
		"and reads on with the next frame; `close` also closes the connection, so the sender sees the error; "
	if kind == "udp" {
		what, enum = "datagram", []string{invalidSkip, invalidDeadLetter}
		doc = "What to do with a datagram longer than `max.length` or a syslog message that does not parse; each is " +
			"logged with the sender's address and counted in `invalid_frames`. `skip` drops it; "
	}
	return sdk.Field{Name: "on.invalid", Type: sdk.TypeString, Default: invalidSkip, Enum: enum,
		Doc: doc + "`dead-letter` hands it to the worker as a record that failed at stage `source`: its value is the " + what +
			"'s raw bytes (of one longer than `max.length`, which is never held whole, its first `max.length` bytes, " +
			"and the error says it was truncated), with the same peer headers as a good record, and an error naming " +
			"the sender. With `errors: { tolerance: all }` it goes to the dead-letter topic (`braid.dlq.stage: source`, " +
			"the error in `braid.dlq.error`) and the source reads on; with tolerance `none` (the default) such a " + what +
			" fails the task, which restarts and loses what it had received but not stored (TCP and UDP cannot " +
			"replay), so `dead-letter` is meant for tolerance `all` and a dead-letter topic."}
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func insecureDoc(kind string) string {
	if kind == "udp" {
		return "Listen beyond loopback. UDP has neither TLS nor authentication, so anyone who reaches the port can write into the topic; a `listen` beyond loopback is refused unless this is true."
	}
	return "Listen beyond loopback without mutual TLS. Without client certificates (`tls.ca.file`) anyone who reaches the port can write into the topic, so a `listen` beyond loopback is refused unless mutual TLS is set or this is true (most syslog devices cannot present a certificate)."
}

func framingDoc(kind string) string {
	if kind == "udp" {
		return "`lines`: each line of a datagram is one record (a datagram without a newline is one record). `syslog`: each datagram is one syslog message (RFC 5426), parsed into fields."
	}
	return "`lines`: each line (LF, a CR before it is dropped) is one record. `length-prefixed`: each frame starts with its length as a big-endian integer of `length.bytes` bytes. `syslog`: RFC 6587 octet-counted frames (`<length> <message>`) or newline-terminated messages, told apart per message, each parsed into fields (RFC 5424 or RFC 3164)."
}

func bufferDoc(kind string) string {
	doc := "Most bytes (each record counted with " + fmt.Sprint(recordOverhead) + " bytes of overhead) received but not yet stored in the log. "
	if kind == "udp" {
		return doc + "UDP has no flow control: a datagram that does not fit is dropped and counted in the `dropped_datagrams` gauge; the source never blocks."
	}
	return doc + "When it is reached the source stops reading its sockets, and TCP flow control makes the senders wait."
}

var tcpSpec = sdk.Spec{
	Name:    "tcp",
	Kind:    sdk.KindSource,
	Summary: "Receives lines, length-prefixed frames or syslog messages (RFC 5424, RFC 3164) over TCP, with optional TLS and mutual TLS.",
	Doc: "Every connection is read by its own goroutine; each frame becomes one record with the sender's address, port " +
		"and the receive time as headers. When the log pushes back the source stops reading (bounded by `buffer.bytes`), " +
		"so TCP flow control slows the senders down instead of memory growing. TCP cannot replay and syslog has no " +
		"acknowledgements: a record is accepted once the source read it, and the records not yet stored in the log " +
		"when a task stops or crashes (at most `buffer.bytes`) are lost, so delivery is at most once.",
	Fields: append(commonFields("tcp", []string{string(FramingLines), string(FramingLength), string(FramingSyslog)}, "127.0.0.1:5514"),
		onInvalidField("tcp"),
		sdk.Field{Name: "length.bytes", Type: sdk.TypeInt, Default: 4, Min: 2, Max: 4, Check: checkLengthBytes,
			Doc: "With framing length-prefixed: size of the big-endian length in front of each frame, 2 or 4 bytes."},
		sdk.Field{Name: "max.connections", Type: sdk.TypeInt, Default: 1000, Min: 1, Max: 1_000_000,
			Doc: "Most connections open at once; one more is closed as soon as it is accepted (logged, counted in `refused_connections`)."},
		sdk.Field{Name: "tls.cert.file", Type: sdk.TypeString, Path: true,
			Doc: "PEM certificate (chain) of the listener; with `tls.key.file`, the source speaks TLS 1.2 or later only."},
		sdk.Field{Name: "tls.key.file", Type: sdk.TypeString, Path: true,
			Doc: "PEM private key of `tls.cert.file`. Its contents are never logged."},
		sdk.Field{Name: "tls.ca.file", Type: sdk.TypeString, Path: true,
			Doc: "PEM CA certificates; when set, every client must present a certificate they signed (mutual TLS), and its common name is the `braid.peer.cn` header."},
	),
	Check: checkTCP,
}

var udpSpec = sdk.Spec{
	Name:    "udp",
	Kind:    sdk.KindSource,
	Summary: "Receives lines or syslog messages (RFC 5424, RFC 3164) in UDP datagrams, counting what it must drop.",
	Doc: "One goroutine reads the socket and never blocks: when `buffer.bytes` are waiting for the log, further " +
		"datagrams are dropped and counted in the `dropped_datagrams` gauge (in `braid connectors status` and " +
		"`braid_connector_gauge`). Datagrams the kernel drops before the source reads them (a full socket buffer) " +
		"are not seen. Each record carries the sender's address, port and the receive time as headers. Delivery is at most once.",
	Fields: append(commonFields("udp", []string{string(FramingLines), string(FramingSyslog)}, "127.0.0.1:5514"),
		onInvalidField("udp")),
	Check: func(cfg sdk.Config) []sdk.FieldError { return checkCommon(cfg, false) },
}

// TCPPlugin returns the tcp source connector.
func TCPPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: tcpSpec, NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		return NewTCP(cfg, env)
	}}
}

// UDPPlugin returns the udp source connector.
func UDPPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: udpSpec, NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		return NewUDP(cfg, env)
	}}
}

func checkListen(v any) error {
	if _, _, err := net.SplitHostPort(v.(string)); err != nil {
		return fmt.Errorf("must be host:port: %v", err)
	}
	return nil
}

func checkTimezone(v any) error {
	if _, err := time.LoadLocation(v.(string)); err != nil {
		return fmt.Errorf("unknown time zone %q: %v", v, err)
	}
	return nil
}

func checkLengthBytes(v any) error {
	if n := v.(int64); n != 2 && n != 4 {
		return errors.New("must be 2 or 4")
	}
	return nil
}

// checkCommon holds the cross-field rules of both sources.
func checkCommon(cfg sdk.Config, tcp bool) []sdk.FieldError {
	var errs []sdk.FieldError
	framing := Framing(cfg.String("framing"))
	if k := cfg.String("key.field"); k != "" && k != keyPeer {
		switch {
		case framing != FramingSyslog:
			errs = append(errs, sdk.FieldError{Field: "key.field",
				Message: fmt.Sprintf("%q: with framing %s the only key is peer (fields exist with framing syslog)", k, framing)})
		case !slices.Contains(syslogFieldNames, k):
			msg := fmt.Sprintf("%q is not a syslog field; use peer or one of %v", k, syslogFieldNames)
			if hint := sdk.Suggest(k, syslogFieldNames); hint != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", hint)
			}
			errs = append(errs, sdk.FieldError{Field: "key.field", Message: msg})
		}
	}
	if cfg.Has("max.length") && cfg.Has("buffer.bytes") && cfg.Int("max.length")+recordOverhead > cfg.Int("buffer.bytes") {
		errs = append(errs, sdk.FieldError{Field: "buffer.bytes",
			Message: fmt.Sprintf("%d is less than one record of max.length %d", cfg.Int("buffer.bytes"), cfg.Int("max.length"))})
	}
	if cfg.Has("listen") && !sdk.LoopbackOnly(cfg.String("listen")) && !cfg.Bool("listen.insecure") &&
		!(tcp && cfg.String("tls.ca.file") != "") {
		what := "UDP cannot authenticate senders"
		if tcp {
			what = "without mutual TLS (tls.ca.file) anyone who reaches it can write into the topic"
		}
		errs = append(errs, sdk.FieldError{Field: "listen",
			Message: fmt.Sprintf("%q is beyond loopback and %s; set listen.insecure: true to accept that, or listen on loopback (127.0.0.1, ::1, localhost)", cfg.String("listen"), what)})
	}
	return errs
}

func checkTCP(cfg sdk.Config) []sdk.FieldError {
	errs := checkCommon(cfg, true)
	cert, key, ca := cfg.String("tls.cert.file"), cfg.String("tls.key.file"), cfg.String("tls.ca.file")
	if (cert == "") != (key == "") {
		errs = append(errs, sdk.FieldError{Field: "tls.key.file", Message: "tls.cert.file and tls.key.file go together: set both or neither"})
	}
	if ca != "" && cert == "" {
		errs = append(errs, sdk.FieldError{Field: "tls.ca.file", Message: "mutual TLS needs the listener's own tls.cert.file and tls.key.file"})
	}
	return errs
}
