package examples_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/braidhq/braid/connectors/audit"
	"github.com/braidhq/braid/examples/seed/catcher"
	"github.com/braidhq/braid/examples/seed/load"
	"github.com/braidhq/braid/runtime/engine"
)

const (
	mariaDSN    = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
	postgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// seedRun is one in-process run of examples/seed/pipeline.yaml.
type seedRun struct {
	dir, out        string
	txTable, prefix string
	n, events, gen  int
	prices          map[string]string // sku -> last price
	priceRows       int
	mdb, pdb        *sql.DB
	catcher         *catcher.Catcher
}

// The seed example end to end: real MariaDB and PostgreSQL, an SMTP server
// and an HTTP receiver on loopback, the engine running the example's own
// pipeline file with this run's tables, ports and folders.
func TestSeedRunsEndToEnd(t *testing.T) {
	t.Parallel()
	r := newSeedRun(t)
	eng := startEngine(t, filepath.Join(r.dir, "log"))
	pricesGlob, err := filepath.Abs(filepath.Join("seed", "prices", "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	webhook := freeAddr(t)
	env := map[string]string{
		"SEED_WEBHOOK_ADDR": webhook, "SEED_PRICES": pricesGlob,
		"SEED_MARIADB_DSN": mariaDSN, "SEED_TX_TABLE": r.txTable,
		"SEED_INTERACTIONS": strconv.Itoa(r.gen), "SEED_POSTGRES_DSN": postgresDSN,
		"SEED_PG_PREFIX": r.prefix, "SEED_OUT": r.out,
		"SEED_SMTP_ADDR": r.catcher.SMTPAddr(), "SEED_HTTP_ADDR": r.catcher.HTTPAddr(),
	}
	data, err := os.ReadFile(filepath.Join("seed", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	applyFile(t, eng, filepath.Join("seed", "pipeline.yaml"), data, env)
	if r.prices, r.priceRows, err = load.Prices(pricesGlob); err != nil {
		t.Fatal(err)
	}

	ctx := t.Context()
	const batches = 10
	if err := load.PostEvents(ctx, &http.Client{Timeout: 20 * time.Second}, "http://"+webhook+"/events", batches, r.events/batches); err != nil {
		t.Fatal(err)
	}
	want := load.Expected(r.n, r.events, r.gen, len(r.prices))
	deadline := time.Now().Add(45 * time.Second)
	for got := r.measure(t); !got.AtLeast(want); got = r.measure(t) {
		if time.Now().After(deadline) {
			t.Fatalf("after 45s the sinks delivered %v;\nexpected %v\n%s", got, want, statuses(eng))
		}
		time.Sleep(200 * time.Millisecond) // polling interval, not synchronisation
	}
	// Parquet files appear before all of a topic is in them: wait until the
	// lake's group has committed every partition's last offset.
	waitCaughtUp(t, eng, "braid-seed-lake", "events", "pricing", "transactions", "interactions")
	closeEngine(t, eng) // flushes every sink; nothing may arrive twice afterwards
	if got := r.measure(t); got != want {
		t.Errorf("after shutdown the sinks delivered %v;\nexpected exactly %v", got, want)
	}

	r.checkPostgres(t)
	r.checkMails(t)
	r.checkAudit(t)
	r.checkHTTP(t)
	r.checkParquet(t)
}

func newSeedRun(t *testing.T) *seedRun {
	t.Helper()
	dir := t.TempDir()
	suffix := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	r := &seedRun{dir: dir, out: filepath.Join(dir, "out"), txTable: "seed_tx_" + suffix, prefix: "seed_" + suffix + "_",
		n: 200, events: 300, gen: 300,
		mdb: openDB(t, "mysql", mariaDSN, "MariaDB at 127.0.0.1:3306"),
		pdb: openDB(t, "pgx", postgresDSN, "PostgreSQL at 127.0.0.1:5432")}
	ctx := t.Context()
	if err := load.PrepareMariaDB(ctx, r.mdb, r.txTable, r.n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = r.mdb.ExecContext(ctx, "DROP TABLE IF EXISTS `"+r.txTable+"`")
		_ = load.DropPostgres(ctx, r.pdb, r.prefix+"transactions", r.prefix+"prices")
	})
	c, err := catcher.Start(catcher.Config{Dir: filepath.Join(dir, "catcher"), SMTPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	r.catcher = c
	return r
}

// openDB connects and pings; an unreachable database fails the test.
func openDB(t *testing.T, driver, dsn, what string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("%s is unreachable (start it with `make services`): %v", what, err)
	}
	return db
}

// freeAddr returns a loopback address no one listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (r *seedRun) measure(t *testing.T) load.Progress {
	p := load.Measure(t.Context(), r.pdb, r.prefix, r.out)
	st := r.catcher.Stats()
	p.Mails, p.HTTPRecords = st.Mails, st.HTTPRecords
	return p
}

// checkPostgres: every transaction with its amount, and each sku at the
// price of the last price list that names it (upserts, not appends).
func (r *seedRun) checkPostgres(t *testing.T) {
	amounts := map[int]float64{}
	queryPairs(t, r.pdb, `SELECT id, amount FROM "`+r.prefix+`transactions"`, func(rows *sql.Rows) error {
		var id int
		var amount float64
		err := rows.Scan(&id, &amount)
		amounts[id] = amount
		return err
	})
	for _, tx := range load.Transactions(r.n) {
		if got, ok := amounts[tx.ID]; !ok || math.Abs(got-float64(tx.AmountCents)/100) > 0.001 {
			t.Errorf("postgres %stransactions: id %d has amount %v (present %v), want %s", r.prefix, tx.ID, got, ok, tx.Amount())
		}
	}
	prices := map[string]float64{}
	queryPairs(t, r.pdb, `SELECT sku, price FROM "`+r.prefix+`prices"`, func(rows *sql.Rows) error {
		var sku string
		var price float64
		err := rows.Scan(&sku, &price)
		prices[sku] = price
		return err
	})
	for sku, text := range r.prices {
		want, _ := strconv.ParseFloat(text, 64)
		if got, ok := prices[sku]; !ok || math.Abs(got-want) > 0.001 {
			t.Errorf("postgres %sprices: %s costs %v (present %v), want %s", r.prefix, sku, got, ok, text)
		}
	}
	if len(prices) != len(r.prices) {
		t.Errorf("postgres %sprices: %d rows, want %d skus", r.prefix, len(prices), len(r.prices))
	}
}

func queryPairs(t *testing.T, db *sql.DB, q string, scan func(*sql.Rows) error) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// checkMails: one message per transaction above 1000, none for the others.
func (r *seedRun) checkMails(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(r.catcher.MailDir(), "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []int
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var id int
		var rest string
		subject := msg.Header.Get("Subject")
		if _, err := fmt.Sscanf(subject, "Large payment %d: %s", &id, &rest); err != nil {
			t.Fatalf("%s: subject %q: %v", f, subject, err)
		}
		got = append(got, id)
	}
	for _, tx := range load.Transactions(r.n) {
		if tx.AmountCents > 100000 {
			want = append(want, tx.ID)
		}
	}
	checkIDs(t, "large-payment-alerts", got, want)
}

// checkAudit: the hash chain verifies and holds every transaction.
func (r *seedRun) checkAudit(t *testing.T) {
	rep, err := audit.Verify(filepath.Join(r.out, "audit"))
	if err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	if rep.Entries != int64(r.n) {
		t.Errorf("audit chain holds %d entries, want %d", rep.Entries, r.n)
	}
}

// checkHTTP: the receiver got every event and every interaction.
func (r *seedRun) checkHTTP(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(r.catcher.HTTPDir(), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	events, interactions := map[string]bool{}, map[float64]bool{}
	for _, f := range files {
		var batch []map[string]any
		data, err := os.ReadFile(f)
		if err == nil {
			err = json.Unmarshal(data, &batch)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, rec := range batch {
			switch {
			case strings.HasPrefix(filepath.Base(f), "events_"):
				events[fmt.Sprint(rec["event_id"])] = true
			case strings.HasPrefix(filepath.Base(f), "interactions_"):
				n, _ := rec["n"].(float64)
				interactions[n] = true
			default:
				t.Fatalf("%s: a request the recommender sink should not have sent", f)
			}
		}
	}
	if len(events) != r.events || len(interactions) != r.gen {
		t.Errorf("http receiver: %d distinct events (want %d), %d distinct interactions (want %d)",
			len(events), r.events, len(interactions), r.gen)
	}
}

// checkParquet reads the lake back with DuckDB: every topic's records, once.
func (r *seedRun) checkParquet(t *testing.T) {
	duck := openDB(t, "duckdb", "", "DuckDB")
	want := map[string]int{"events": r.events, "transactions": r.n, "interactions": r.gen, "pricing": r.priceRows}
	for _, topic := range load.Topics {
		glob := filepath.Join(r.out, "lake", "topic="+topic, "**", "*.parquet")
		q := fmt.Sprintf("SELECT count(*) FROM read_parquet('%s', hive_partitioning = true)", strings.ReplaceAll(glob, "'", "''"))
		var got int
		if err := duck.QueryRowContext(t.Context(), q).Scan(&got); err != nil {
			t.Fatalf("duckdb: %s: %v", q, err)
		}
		if got != want[topic] {
			t.Errorf("parquet topic %s: %d rows, want %d", topic, got, want[topic])
		}
	}
	var sum float64
	glob := filepath.Join(r.out, "lake", "topic=transactions", "**", "*.parquet")
	if err := duck.QueryRowContext(t.Context(), "SELECT sum(amount) FROM read_parquet('"+strings.ReplaceAll(glob, "'", "''")+"')").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	var wantSum int64
	for _, tx := range load.Transactions(r.n) {
		wantSum += tx.AmountCents
	}
	if math.Abs(sum-float64(wantSum)/100) > 0.01 {
		t.Errorf("parquet transactions: sum(amount) = %.2f, want %.2f", sum, float64(wantSum)/100)
	}
}

// statuses describes every connector's state for a failure message.
func statuses(eng *engine.Engine) string {
	var sb strings.Builder
	for _, name := range eng.Worker.Names() {
		st, err := eng.Worker.Status(name)
		fmt.Fprintf(&sb, "%s: %+v %v\n", name, st, err)
	}
	return sb.String()
}

// waitCaughtUp polls until a sink's consumer group has committed the last
// offset of every partition of its topics.
func waitCaughtUp(t *testing.T, eng *engine.Engine, group string, topics ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		behind := ""
		for _, topic := range topics {
			info, err := eng.Log.Topic(t.Context(), topic)
			if err != nil {
				t.Fatal(err)
			}
			committed, err := eng.Log.CommittedOffsets(t.Context(), group, topic)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range info.Partitions {
				if p.LastOffset >= 0 && committed[p.Partition] < p.LastOffset {
					behind = fmt.Sprintf("%s/%d at %d of %d", topic, p.Partition, committed[p.Partition], p.LastOffset)
				}
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not catch up: %s", group, behind)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}
