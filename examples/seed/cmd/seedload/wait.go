package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/braidhq/braid/examples/seed/catcher"
	"github.com/braidhq/braid/examples/seed/load"
)

func wait(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	stats := fs.String("stats", "http://127.0.0.1:2580/_stats", "the catcher's stats URL")
	pdsn := fs.String("postgres", defPostgres, "PostgreSQL URL")
	prefix := fs.String("pg-prefix", "seed_", "prefix of the PostgreSQL target tables")
	out := fs.String("out", "data/seed/out", "the pipeline's output folder (SEED_OUT)")
	prices := fs.String("prices", "examples/seed/prices/*.csv", "the price-list files")
	n := fs.Int("n", 500, "transactions in MariaDB")
	events := fs.Int("events", 1000, "events posted to the webhook")
	interactions := fs.Int("interactions", 1000, "records the generator makes")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	_ = fs.Parse(args)
	skus, _, err := load.Prices(*prices)
	if err != nil {
		return err
	}
	want := load.Expected(*n, *events, *interactions, len(skus))
	pdb, err := sql.Open("pgx", *pdsn)
	if err != nil {
		return err
	}
	defer pdb.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for {
		got := load.Measure(ctx, pdb, *prefix, *out)
		if st, err := fetchStats(ctx, *stats); err == nil {
			got.Mails, got.HTTPRecords = st.Mails, st.HTTPRecords
		}
		if got.AtLeast(want) {
			fmt.Println("delivered:", got)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: delivered %v; expected %v", ctx.Err(), got, want)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func fetchStats(ctx context.Context, url string) (catcher.Stats, error) {
	var st catcher.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
