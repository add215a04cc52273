package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/braidhq/braid/examples/seed/catcher"
	"github.com/braidhq/braid/examples/seed/load"
)

// progress is what the sinks delivered so far.
type progress struct {
	mails, httpRecords, pgTransactions, pgPrices, auditLines, parquetTopics int
}

func (p progress) String() string {
	return fmt.Sprintf("emails %d, http records %d, postgres transactions %d, postgres prices %d, audit entries %d, topics in parquet %d",
		p.mails, p.httpRecords, p.pgTransactions, p.pgPrices, p.auditLines, p.parquetTopics)
}

func wait(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	stats := fs.String("stats", "http://127.0.0.1:2580/_stats", "the catcher's stats URL")
	pdsn := fs.String("postgres", defPostgres, "PostgreSQL URL")
	prefix := fs.String("pg-prefix", "seed_", "prefix of the PostgreSQL target tables")
	out := fs.String("out", "data/seed/out", "the pipeline's output folder (SEED_OUT)")
	prices := fs.String("prices", "examples/seed/data/prices-*.csv", "the price-list files")
	n := fs.Int("n", 500, "transactions in MariaDB")
	events := fs.Int("events", 1000, "events posted to the webhook")
	interactions := fs.Int("interactions", 1000, "records the generator makes")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	_ = fs.Parse(args)
	skus, err := load.Prices(*prices)
	if err != nil {
		return err
	}
	want := progress{mails: *n / load.BigEvery, httpRecords: *events + *interactions, pgTransactions: *n,
		pgPrices: len(skus), auditLines: *n, parquetTopics: 4}
	pdb, err := sql.Open("pgx", *pdsn)
	if err != nil {
		return err
	}
	defer pdb.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var got progress
	for {
		got = measure(ctx, pdb, *stats, *prefix, *out)
		if got.atLeast(want) {
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

func (p progress) atLeast(w progress) bool {
	return p.mails >= w.mails && p.httpRecords >= w.httpRecords && p.pgTransactions >= w.pgTransactions &&
		p.pgPrices >= w.pgPrices && p.auditLines >= w.auditLines && p.parquetTopics >= w.parquetTopics
}

// measure reads every target once; a target that cannot be read yet (a table
// not created, the catcher not answering) counts as zero.
func measure(ctx context.Context, pdb *sql.DB, statsURL, prefix, out string) progress {
	var p progress
	if st, err := fetchStats(ctx, statsURL); err == nil {
		p.mails, p.httpRecords = st.Mails, st.HTTPRecords
	}
	_ = pdb.QueryRowContext(ctx, `SELECT count(*) FROM "`+prefix+`transactions"`).Scan(&p.pgTransactions)
	_ = pdb.QueryRowContext(ctx, `SELECT count(*) FROM "`+prefix+`prices"`).Scan(&p.pgPrices)
	audits, _ := filepath.Glob(filepath.Join(out, "audit", "audit-*.jsonl"))
	for _, f := range audits {
		if b, err := os.ReadFile(f); err == nil {
			p.auditLines += bytes.Count(b, []byte{'\n'})
		}
	}
	for _, topic := range []string{"events", "pricing", "transactions", "interactions"} {
		files, _ := filepath.Glob(filepath.Join(out, "lake", "topic="+topic, "*", "*.parquet"))
		if len(files) > 0 {
			p.parquetTopics++ // counts topics with at least one finished file
		}
	}
	return p
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
