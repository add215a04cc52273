package load

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
)

// Topics are the seed pipeline's topics, each written to the Parquet lake.
var Topics = []string{"events", "pricing", "transactions", "interactions"}

// Progress is what the seed pipeline's sinks delivered so far.
type Progress struct {
	Mails          int // emails the catcher received
	HTTPRecords    int // records the catcher's HTTP receiver stored
	PGTransactions int // rows of <prefix>transactions in PostgreSQL
	PGPrices       int // rows of <prefix>prices in PostgreSQL
	AuditEntries   int // lines of the audit files
	ParquetTopics  int // topics with at least one finished Parquet file
}

// Expected is what a complete run delivers for n transactions, the given
// number of webhook events and generated interactions, and skus distinct
// price-list skus.
func Expected(n, events, interactions, skus int) Progress {
	return Progress{Mails: n / BigEvery, HTTPRecords: events + interactions, PGTransactions: n,
		PGPrices: skus, AuditEntries: n, ParquetTopics: len(Topics)}
}

func (p Progress) String() string {
	return fmt.Sprintf("emails %d, http records %d, postgres transactions %d, postgres prices %d, audit entries %d, topics in parquet %d",
		p.Mails, p.HTTPRecords, p.PGTransactions, p.PGPrices, p.AuditEntries, p.ParquetTopics)
}

// AtLeast reports whether p reached w in every count.
func (p Progress) AtLeast(w Progress) bool {
	return p.Mails >= w.Mails && p.HTTPRecords >= w.HTTPRecords && p.PGTransactions >= w.PGTransactions &&
		p.PGPrices >= w.PGPrices && p.AuditEntries >= w.AuditEntries && p.ParquetTopics >= w.ParquetTopics
}

// Measure fills in the counts read from PostgreSQL (tables named with
// prefix) and the output folder out (SEED_OUT); Mails and HTTPRecords come
// from the catcher. A target that cannot be read yet (a table not created
// so far) counts as zero.
func Measure(ctx context.Context, pdb *sql.DB, prefix, out string) Progress {
	var p Progress
	if CheckTable(prefix+"transactions") == nil {
		_ = pdb.QueryRowContext(ctx, `SELECT count(*) FROM "`+prefix+`transactions"`).Scan(&p.PGTransactions)
		_ = pdb.QueryRowContext(ctx, `SELECT count(*) FROM "`+prefix+`prices"`).Scan(&p.PGPrices)
	}
	audits, _ := filepath.Glob(filepath.Join(out, "audit", "audit-*.jsonl"))
	for _, f := range audits {
		if b, err := os.ReadFile(f); err == nil {
			p.AuditEntries += bytes.Count(b, []byte{'\n'})
		}
	}
	for _, topic := range Topics {
		if files, _ := filepath.Glob(filepath.Join(out, "lake", "topic="+topic, "*", "*.parquet")); len(files) > 0 {
			p.ParquetTopics++
		}
	}
	return p
}
