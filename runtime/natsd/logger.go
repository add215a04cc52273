package natsd

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
)

// slogAdapter sends nats-server's log lines through slog.
type slogAdapter struct{ log *slog.Logger }

func (a *slogAdapter) Noticef(format string, v ...any) { a.emit(slog.LevelDebug, format, v) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.emit(slog.LevelWarn, format, v) }
func (a *slogAdapter) Fatalf(format string, v ...any)  { a.emit(slog.LevelError, format, v) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.emit(slog.LevelError, format, v) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.emit(slog.LevelDebug, format, v) }
func (a *slogAdapter) Tracef(format string, v ...any)  {}

func (a *slogAdapter) emit(level slog.Level, format string, v []any) {
	if !a.log.Enabled(context.Background(), level) {
		return
	}
	a.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

// urlParse renders a NATS URL list without passwords.
func urlParse(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	return u.Redacted(), nil
}
