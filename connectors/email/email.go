package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net/mail"
	"net/url"
	"text/template"
	"time"

	"golang.org/x/time/rate"

	"github.com/braidhq/braid/connectors/sdk"
)

// SinkPlugin returns the email sink connector.
func SinkPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: spec(), NewSink: func(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
		return NewSink(cfg, env)
	}}
}

func spec() sdk.Spec {
	return sdk.Spec{
		Name:    "email",
		Kind:    sdk.KindSink,
		Summary: "Sends one email per record over SMTP, rate limited and deduplicated.",
		Doc: "Templates (Go text/template; `html` is html/template) see `.Topic`, `.Partition`, `.Offset`, " +
			"`.Key`, `.Value` (the raw value as text), `.Fields` (the decoded value) and `.Headers`. " +
			"Before a message is sent its deduplication key is marked `sending` in the connector's store and " +
			"afterwards `sent`; a record whose key is already marked is skipped, so a replay or a restart never " +
			"sends the same alert twice (a crash in the middle of one send errs on the side of not resending). " +
			"A record whose template fails or whose addresses are invalid, or that the server rejects " +
			"permanently (5xx), goes to the dead-letter topic.",
		Fields: []sdk.Field{
			{Name: "smtp", Type: sdk.TypeString, Required: true, Check: checkSMTPURL,
				Doc:     "SMTP server as a URL: `smtp://user@host:587` (STARTTLS) or `smtps://user@host:465` (implicit TLS). The password goes in `password`.",
				Example: "smtp://alerts@mail.example.com:587"},
			{Name: "password", Type: sdk.TypeString, Secret: true, Doc: "SMTP password of the user in `smtp`."},
			{Name: "auth", Type: sdk.TypeString, Default: "plain", Enum: []string{"plain", "login", "none"},
				Doc: "SASL mechanism, used when `smtp` names a user."},
			{Name: "starttls", Type: sdk.TypeBool, Default: true,
				Doc: "Require STARTTLS on smtp:// servers. Turn off only for a trusted relay on loopback: without TLS the password crosses the wire in clear."},
			{Name: "tls_ca_file", Type: sdk.TypeString, Path: true,
				Doc: "PEM file of the CA that signed the server's certificate, when it is not in the system pool."},
			{Name: "from", Type: sdk.TypeString, Required: true, Check: checkAddress,
				Doc: "Sender address.", Example: "Braid alerts <alerts@example.com>"},
			{Name: "to", Type: sdk.TypeList, Check: checkAddresses, Doc: "Recipients.", Example: "[ops@example.com]"},
			{Name: "cc", Type: sdk.TypeList, Check: checkAddresses, Doc: "Copy recipients."},
			{Name: "to_field", Type: sdk.TypeString,
				Doc: "Dotted path of a record field holding more recipients (a string of comma-separated addresses, or a list).", Example: "customer.email"},
			{Name: "cc_field", Type: sdk.TypeString, Doc: "Dotted path of a record field holding more copy recipients."},
			{Name: "subject", Type: sdk.TypeString, Required: true, Check: checkText,
				Doc: "Subject template.", Example: "Order {{.Fields.id}} over {{.Fields.amount}}"},
			{Name: "body", Type: sdk.TypeString, Required: true, Check: checkText,
				Doc: "Plain-text body template.", Example: "Customer {{.Fields.customer}} ordered {{.Fields.amount}}."},
			{Name: "html", Type: sdk.TypeString, Check: checkHTML,
				Doc: "Optional HTML body template; with it the message is multipart/alternative."},
			{Name: "dedup_key", Type: sdk.TypeString, Check: checkText,
				Doc:     "Template of the deduplication key; empty uses the record key, or topic/partition/offset for records without one.",
				Example: "{{.Fields.order_id}}-{{.Fields.status}}"},
			{Name: "rate_per_minute", Type: sdk.TypeInt, Default: 60, Min: 1,
				Doc: "Most messages sent per minute, evenly spaced."},
			{Name: "timeout", Type: sdk.TypeDuration, Default: "30s",
				Doc: "Timeout of one SMTP session step (connect, one message)."},
		},
		Check: checkSettings,
	}
}

// checkSettings holds the rules across settings.
func checkSettings(cfg sdk.Config) []sdk.FieldError {
	if len(cfg.Strings("to")) == 0 && cfg.String("to_field") == "" {
		return []sdk.FieldError{{Field: "to", Message: "set to or to_field: the message needs a recipient"}}
	}
	return nil
}

func checkSMTPURL(v any) error {
	u, err := url.Parse(v.(string))
	if err != nil {
		return err
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return errors.New("must be an smtp:// or smtps:// URL")
	}
	if u.Hostname() == "" {
		return errors.New("names no host")
	}
	if _, has := u.User.Password(); has {
		return errors.New("must not contain a password: put it in the password setting, which is kept secret")
	}
	return nil
}

func checkAddress(v any) error { _, err := parseAddress(v.(string)); return err }

func checkAddresses(v any) error {
	for _, a := range v.([]string) {
		if _, err := parseAddress(a); err != nil {
			return err
		}
	}
	return nil
}

func checkText(v any) error {
	_, err := template.New("").Option("missingkey=zero").Parse(v.(string))
	return err
}
func checkHTML(v any) error {
	_, err := htmltemplate.New("").Option("missingkey=zero").Parse(v.(string))
	return err
}

// Sink is the email sink.
type Sink struct {
	log     *slog.Logger
	store   sdk.Store
	dialer  dialer
	from    *mail.Address
	to, cc  []*mail.Address
	toField string
	ccField string
	subject *template.Template
	body    *template.Template
	html    *htmltemplate.Template
	dedup   *template.Template
	limiter *rate.Limiter
	conn    *session
}

// NewSink builds the sink from validated settings.
func NewSink(cfg sdk.Config, env sdk.Env) (*Sink, error) {
	s := &Sink{log: env.Logger, store: env.Store, toField: cfg.String("to_field"), ccField: cfg.String("cc_field")}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.store == nil {
		return nil, errors.New("email: the worker gave no Store; deduplication needs one")
	}
	var errs []sdk.FieldError
	field := func(name string, err error) {
		if err != nil {
			errs = append(errs, sdk.FieldError{Field: name, Message: err.Error()})
		}
	}
	var err error
	s.dialer, err = newDialer(cfg)
	field("tls_ca_file", err)
	s.from, _ = parseAddress(cfg.String("from"))
	s.to, _ = parseAddresses(cfg.Strings("to"))
	s.cc, _ = parseAddresses(cfg.Strings("cc"))
	s.subject, err = template.New("subject").Option("missingkey=zero").Parse(cfg.String("subject"))
	field("subject", err)
	s.body, err = template.New("body").Option("missingkey=zero").Parse(cfg.String("body"))
	field("body", err)
	if h := cfg.String("html"); h != "" {
		s.html, err = htmltemplate.New("html").Option("missingkey=zero").Parse(h)
		field("html", err)
	}
	if d := cfg.String("dedup_key"); d != "" {
		s.dedup, err = template.New("dedup_key").Option("missingkey=zero").Parse(d)
		field("dedup_key", err)
	}
	if len(errs) > 0 {
		return nil, &sdk.ConfigError{Connector: "email", Errors: errs}
	}
	perMin := cfg.Int("rate_per_minute")
	s.limiter = rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMin)), 1)
	return s, nil
}

// Open checks nothing remote: the server is dialled on the first message,
// so a down mail server delays alerts instead of failing the pipeline.
func (s *Sink) Open(context.Context) error { return nil }

// Flush has nothing to do: Write returns once each message was accepted.
func (s *Sink) Flush(context.Context) error { return nil }

// Close ends the SMTP session.
func (s *Sink) Close(context.Context) error {
	s.hangUp(true)
	return nil
}

func (s *Sink) hangUp(polite bool) {
	if s.conn != nil {
		s.conn.close(polite)
		s.conn = nil
	}
}

// Write sends one message per record not sent before.
func (s *Sink) Write(ctx context.Context, records []sdk.Record) error {
	var failed []sdk.RecordError
	for i := range records {
		if err := s.writeOne(ctx, &records[i]); err != nil {
			var perm *permanentError
			if !errors.As(err, &perm) {
				s.hangUp(false)
				return err
			}
			failed = append(failed, sdk.RecordError{Index: i, Err: fmt.Errorf("%s: %w", records[i].Where(), err)})
		}
	}
	if len(failed) > 0 {
		return &sdk.BatchError{Records: failed}
	}
	return nil
}

// permanentError is a record the sink can never send as it is.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

const (
	stateSending = "sending"
	stateSent    = "sent"
)

func (s *Sink) writeOne(ctx context.Context, r *sdk.Record) error {
	m, err := s.compose(r)
	if err != nil {
		return &permanentError{err}
	}
	key := storeKey(m.dedup)
	state, err := s.store.Get(ctx, key)
	switch {
	case err == nil:
		if string(state) == stateSending {
			s.log.Warn("email: skipping a message whose earlier send was interrupted; it may not have arrived",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
		}
		return nil
	case !errors.Is(err, sdk.ErrNotFound):
		return sdk.Retryable(fmt.Errorf("email: read dedup state: %w", err))
	}
	if err := s.limiter.Wait(ctx); err != nil {
		return err
	}
	if s.conn == nil {
		if s.conn, err = s.dialer.dial(ctx); err != nil {
			return err
		}
	}
	if err := s.store.Put(ctx, key, []byte(stateSending)); err != nil {
		return sdk.Retryable(fmt.Errorf("email: mark sending: %w", err))
	}
	sent, err := s.conn.send(m)
	if err != nil && !sent {
		// Definitely not delivered: clear the mark so a retry sends it.
		if derr := s.store.Delete(ctx, key); derr != nil {
			s.log.Error("email: could not clear the sending mark; the message will not be retried",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "error", derr)
		}
		return err
	}
	if err != nil {
		return sdk.Retryable(fmt.Errorf("email: %s: the server's answer to the message was lost (kept as sending, not resent): %w", r.Where(), err))
	}
	if err := s.store.Put(ctx, key, []byte(stateSent)); err != nil {
		return sdk.Retryable(fmt.Errorf("email: mark sent: %w", err))
	}
	return nil
}

// storeKey hashes the dedup key into the store's key alphabet.
func storeKey(dedup string) string {
	sum := sha256.Sum256([]byte(dedup))
	return "email.sent." + hex.EncodeToString(sum[:20])
}

// dedupValue is the text a record is deduplicated by.
func dedupValue(r *sdk.Record) string {
	if len(r.Key) > 0 {
		return "key:" + string(r.Key)
	}
	return fmt.Sprintf("at:%s/%d/%d", r.Topic, r.Partition, r.Offset)
}

// NeedsFields tells the worker to decode records ahead: templates read fields.
func (s *Sink) NeedsFields() {}

var _ sdk.FieldsSink = (*Sink)(nil)
