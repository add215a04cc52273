package load

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Transaction is one row of the transactions table.
type Transaction struct {
	ID          int
	Account     string
	Merchant    string
	AmountCents int64
	Currency    string
	CreatedAt   time.Time
}

// Amount is the transaction's amount as exact decimal text.
func (t Transaction) Amount() string {
	return fmt.Sprintf("%d.%02d", t.AmountCents/100, t.AmountCents%100)
}

var merchants = []string{"Acme Books", "Blue Bottle", "City Rail", "Fresh Market", "Globex Travel", "Northwind"}

// base is the time of transaction 0; rows follow a minute apart.
var base = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// BigEvery is how often a transaction is large: every BigEvery-th one is
// above 1000.00, all the others below 1000.00.
const BigEvery = 25

// Transactions returns transactions 1..n.
func Transactions(n int) []Transaction {
	out := make([]Transaction, n)
	for i := range out {
		id := i + 1
		cents := int64(id*7919%95000 + 99) // below 1000.00
		if id%BigEvery == 0 {
			cents = 100000 + int64(id*104729%400000) + 1 // 1000.01 to 5000.00
		}
		out[i] = Transaction{ID: id, Account: fmt.Sprintf("acct-%03d", id%37+1),
			Merchant: merchants[id%len(merchants)], AmountCents: cents, Currency: "EUR",
			CreatedAt: base.Add(time.Duration(id) * time.Minute)}
	}
	return out
}

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// CheckTable refuses table names that would need quoting rules of their own.
func CheckTable(name string) error {
	if !ident.MatchString(name) {
		return fmt.Errorf("table name %q: use 1 to 64 letters, digits or _, not starting with a digit", name)
	}
	return nil
}

// PrepareMariaDB (re)creates table in db and fills it with Transactions(n).
func PrepareMariaDB(ctx context.Context, db *sql.DB, table string, n int) error {
	if err := CheckTable(table); err != nil {
		return err
	}
	q := "`" + table + "`"
	stmts := []string{
		"DROP TABLE IF EXISTS " + q,
		"CREATE TABLE " + q + ` (
			id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			account VARCHAR(32) NOT NULL,
			merchant VARCHAR(64) NOT NULL,
			amount DECIMAL(12,2) NOT NULL,
			currency CHAR(3) NOT NULL,
			created_at DATETIME(3) NOT NULL)`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("mariadb table %s: %w", table, err)
		}
	}
	txs := Transactions(n)
	const chunk = 500
	for start := 0; start < len(txs); start += chunk {
		part := txs[start:min(start+chunk, len(txs))]
		var sb strings.Builder
		args := make([]any, 0, len(part)*6)
		sb.WriteString("INSERT INTO " + q + " (id, account, merchant, amount, currency, created_at) VALUES ")
		for i, t := range part {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?)")
			args = append(args, t.ID, t.Account, t.Merchant, t.Amount(), t.Currency, t.CreatedAt)
		}
		if _, err := db.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("mariadb table %s: insert rows %d-%d: %w", table, part[0].ID, part[len(part)-1].ID, err)
		}
	}
	return nil
}

// DropPostgres drops the example's target tables in PostgreSQL, so a run
// starts from empty tables.
func DropPostgres(ctx context.Context, db *sql.DB, tables ...string) error {
	for _, t := range tables {
		if err := CheckTable(t); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS "`+t+`"`); err != nil {
			return fmt.Errorf("postgres table %s: %w", t, err)
		}
	}
	return nil
}

// Event is one website event as the webhook receives it.
type Event struct {
	EventID string    `json:"event_id"`
	Session string    `json:"session"`
	User    string    `json:"user"`
	Type    string    `json:"type"`
	Page    string    `json:"page"`
	At      time.Time `json:"at"`
}

var eventTypes = []string{"page_view", "page_view", "click", "search", "add_to_cart"}

// Events returns events 1..n.
func Events(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		id := i + 1
		out[i] = Event{EventID: fmt.Sprintf("ev-%06d", id), Session: fmt.Sprintf("s-%03d", id%40),
			User: fmt.Sprintf("user-%02d", id%50+1), Type: eventTypes[id%len(eventTypes)],
			Page: fmt.Sprintf("/products/sku-%d", id%20+1), At: base.Add(time.Duration(id) * time.Second)}
	}
	return out
}

// PostEvents posts Events(batches*size) to url as JSON arrays of size
// events. A refused connection (the webhook not listening yet), 429 and 503
// are retried until ctx ends; any other answer but 200 is an error.
func PostEvents(ctx context.Context, client *http.Client, url string, batches, size int) error {
	evs := Events(batches * size)
	for b := range batches {
		body, err := json.Marshal(evs[b*size : (b+1)*size])
		if err != nil {
			return err
		}
		if err := postRetrying(ctx, client, url, body); err != nil {
			return fmt.Errorf("post batch %d of %d to %s: %w", b+1, batches, url, err)
		}
	}
	return nil
}

func postRetrying(ctx context.Context, client *http.Client, url string, body []byte) error {
	wait := 100 * time.Millisecond
	for {
		retry, err := post(ctx, client, url, body)
		if err == nil {
			return nil
		}
		if !retry {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func post(ctx context.Context, client *http.Client, url string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusServiceUnavailable:
		return true, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return false, errors.New(resp.Status + ": " + string(bytes.TrimSpace(msg)))
}

// Prices reads the price-list CSV files matching glob in name order, as the
// file source does, and returns each sku's last price text: what the
// warehouse's upserted prices table must hold, and the number of rows (the
// records the source reads).
func Prices(glob string) (last map[string]string, rows int, err error) {
	files, err := filepath.Glob(glob)
	if err != nil {
		return nil, 0, fmt.Errorf("price files %q: %w", glob, err)
	}
	if len(files) == 0 {
		return nil, 0, fmt.Errorf("price files %q: no file matches", glob)
	}
	sort.Strings(files)
	last = map[string]string{}
	for _, f := range files {
		lines, err := readCSV(f)
		if err != nil {
			return nil, 0, err
		}
		if len(lines) == 0 {
			continue
		}
		sku, price := slices.Index(lines[0], "sku"), slices.Index(lines[0], "price")
		if sku < 0 || price < 0 {
			return nil, 0, fmt.Errorf("%s: the header names no sku or price column", f)
		}
		for _, r := range lines[1:] {
			last[r[sku]] = r[price]
		}
		rows += len(lines) - 1
	}
	return last, rows, nil
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}
