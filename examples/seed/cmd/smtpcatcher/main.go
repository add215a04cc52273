package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/braidhq/braid/examples/seed/catcher"
)

func main() {
	dir := flag.String("dir", "data/seed/out/catcher", "folder for mail/*.eml and http/*.json")
	smtpAddr := flag.String("smtp", "127.0.0.1:2525", "SMTP listen address (loopback only)")
	httpAddr := flag.String("http", "127.0.0.1:2580", "HTTP listen address (loopback only)")
	verbose := flag.Bool("v", false, "log every message and request")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(logger, catcher.Config{Dir: *dir, SMTPAddr: *smtpAddr, HTTPAddr: *httpAddr, Logger: logger}); err != nil {
		fmt.Fprintln(os.Stderr, "smtpcatcher:", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger, cfg catcher.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := catcher.Start(cfg)
	if err != nil {
		return err
	}
	logger.Info("catching", "smtp", c.SMTPAddr(), "http", c.HTTPAddr(), "mail", c.MailDir(), "requests", c.HTTPDir())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st := c.Stats()
	logger.Info("stopped", "mails", st.Mails, "http_requests", st.HTTPRequests, "http_records", st.HTTPRecords)
	return c.Close(sctx)
}
