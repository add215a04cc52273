package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/braidhq/braid/connectors/sdk"
)

// dialer opens authenticated SMTP sessions.
type dialer struct {
	addr, host     string
	implicitTLS    bool
	starttls       bool
	tls            *tls.Config
	user, password string
	auth           string
	timeout        time.Duration
}

func newDialer(cfg sdk.Config) (dialer, error) {
	u, _ := url.Parse(cfg.String("smtp"))
	d := dialer{
		host:        u.Hostname(),
		implicitTLS: u.Scheme == "smtps",
		starttls:    cfg.Bool("starttls"),
		user:        u.User.Username(),
		password:    cfg.String("password"),
		auth:        cfg.String("auth"),
		timeout:     cfg.Duration("timeout"),
	}
	port := u.Port()
	if port == "" {
		port = "587"
		if d.implicitTLS {
			port = "465"
		}
	}
	d.addr = net.JoinHostPort(d.host, port)
	if d.timeout <= 0 {
		d.timeout = 30 * time.Second
	}
	d.tls = &tls.Config{ServerName: d.host, MinVersion: tls.VersionTLS12}
	if ca := cfg.String("tls_ca_file"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return d, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return d, fmt.Errorf("%s holds no PEM certificate", ca)
		}
		d.tls.RootCAs = pool
	}
	return d, nil
}

// session is one open SMTP connection.
type session struct {
	c       *smtp.Client
	conn    net.Conn
	timeout time.Duration
}

func (d dialer) dial(ctx context.Context) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var conn net.Conn
	var err error
	if d.implicitTLS {
		conn, err = (&tls.Dialer{Config: d.tls}).DialContext(dctx, "tcp", d.addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", d.addr)
	}
	if err != nil {
		return nil, sdk.Retryable(fmt.Errorf("email: connect to %s: %w", d.addr, err))
	}
	_ = conn.SetDeadline(time.Now().Add(d.timeout))
	var c *smtp.Client
	if !d.implicitTLS && d.starttls {
		c, err = smtp.NewClientStartTLS(conn, d.tls)
		if err != nil {
			conn.Close()
			return nil, sdk.Retryable(fmt.Errorf("email: STARTTLS with %s: %w", d.addr, err))
		}
	} else {
		c = smtp.NewClient(conn)
	}
	if err := d.authenticate(c); err != nil {
		c.Close()
		return nil, err
	}
	return &session{c: c, conn: conn, timeout: d.timeout}, nil
}

func (d dialer) authenticate(c *smtp.Client) error {
	if d.user == "" || d.auth == "none" {
		return nil
	}
	var mech sasl.Client
	if d.auth == "login" {
		mech = sasl.NewLoginClient(d.user, d.password)
	} else {
		mech = sasl.NewPlainClient("", d.user, d.password)
	}
	if err := c.Auth(mech); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && !se.Temporary() {
			return sdk.Fatal(fmt.Errorf("email: %s auth as %q at %s refused: %w", d.auth, d.user, d.addr, err))
		}
		return sdk.Retryable(fmt.Errorf("email: %s auth at %s: %w", d.auth, d.addr, err))
	}
	return nil
}

// send transmits one message. sent reports whether the server may have
// accepted it: false means it certainly did not.
func (s *session) send(m *message) (sent bool, err error) {
	_ = s.conn.SetDeadline(time.Now().Add(s.timeout))
	if err := s.c.Mail(m.from, nil); err != nil {
		return false, classify(err)
	}
	for _, r := range m.rcpts {
		if err := s.c.Rcpt(r, nil); err != nil {
			_ = s.c.Reset()
			return false, classify(fmt.Errorf("recipient %s: %w", r, err))
		}
	}
	w, err := s.c.Data()
	if err != nil {
		return false, classify(err)
	}
	if _, err := w.Write(m.data); err != nil {
		return false, classify(err)
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return false, classify(err) // the server answered: not accepted
		}
		return true, err
	}
	return true, nil
}

// classify: a 5xx answer rejects the record for good; the rest is transient.
func classify(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && !se.Temporary() {
		return &permanentError{fmt.Errorf("server rejected the message: %w", err)}
	}
	return sdk.Retryable(fmt.Errorf("email: %w", err))
}

func (s *session) close(polite bool) {
	if polite {
		_ = s.conn.SetDeadline(time.Now().Add(5 * time.Second))
		_ = s.c.Quit()
	}
	_ = s.c.Close()
}
