package api

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestLevelsAndScrubbing(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, levels := Leveled(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if got := levels.Level(RootLogger); got != slog.LevelInfo {
		t.Fatalf("root level taken from the handler: %v", got)
	}
	conn := logger.With("connector", "db")
	logger.Debug("root debug")
	conn.Debug("conn debug before")
	levels.Set("db", slog.LevelDebug)
	conn.Debug("conn debug after")
	logger.Info("record attr", "connector", "db")
	levels.Set(RootLogger, slog.LevelWarn)
	logger.Info("root info hidden")
	conn.Debug("conn still debug")

	levels.AddSecrets("pa55word-xyz", "ab") // too short to scrub
	conn.Warn("login with pa55word-xyz failed", "err", errors.New("bad pa55word-xyz"), "dsn", "u:pa55word-xyz@h",
		slog.Group("g", "inner", "pa55word-xyz"))
	logger.With("dsn", "pa55word-xyz").Warn("with attrs")

	out := buf.String()
	for _, want := range []string{"conn debug after", "conn still debug", "record attr", "login with [hidden] failed",
		`err="bad [hidden]"`, "dsn=u:[hidden]@h", "g.inner=[hidden]", `msg="with attrs" dsn=[hidden]`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"root debug", "conn debug before", "root info hidden", "pa55word-xyz"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log has %q:\n%s", unwanted, out)
		}
	}
	all := levels.All()
	if all["db"] != slog.LevelDebug || all[RootLogger] != slog.LevelWarn {
		t.Fatalf("All() = %v", all)
	}
}
