package jdbc

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialect names the SQL flavour a connector speaks.
type Dialect string

// The supported dialects.
const (
	MySQL    Dialect = "mysql" // MySQL and MariaDB
	Postgres Dialect = "postgres"
)

// DetectDialect returns the dialect named by setting ("" or "auto" means
// detect) or, failing that, by the DSN: a postgres:// or postgresql:// URL, or
// a libpq key=value string, is PostgreSQL; anything else is a MySQL DSN.
func DetectDialect(setting, dsn string) (Dialect, error) {
	switch strings.ToLower(setting) {
	case "mysql", "mariadb":
		return MySQL, nil
	case "postgres", "postgresql", "pg":
		return Postgres, nil
	case "", "auto":
	default:
		return "", fmt.Errorf("dialect: unknown dialect %q (use mysql or postgres)", setting)
	}
	l := strings.ToLower(strings.TrimSpace(dsn))
	if strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://") ||
		strings.Contains(l, "host=") || strings.Contains(l, "dbname=") {
		return Postgres, nil
	}
	if strings.HasPrefix(l, "mysql://") {
		return "", fmt.Errorf("dsn: use the go-sql-driver form user:pass@tcp(host:3306)/db, not a mysql:// URL")
	}
	return MySQL, nil
}

// Open connects to the database behind dsn. MySQL connections always parse
// times into UTC and interpolate parameters client-side (one round trip per
// statement instead of prepare+execute); PostgreSQL connections use pgx.
// The DSN never appears in errors, as it may hold a password. The MySQL
// driver's own messages go to log at debug level (nil discards them).
func Open(ctx context.Context, d Dialect, dsn string, log *slog.Logger) (*sql.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var db *sql.DB
	switch d {
	case MySQL:
		cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
		if err != nil {
			return nil, fmt.Errorf("dsn: not a valid MySQL DSN (user:pass@tcp(host:port)/db?params): %s", redactErr(err, dsn))
		}
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		cfg.InterpolateParams = true
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["time_zone"] = "'+00:00'"
		cfg.Logger = driverLog{log}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("dsn: %s", redactErr(err, dsn))
		}
		db = sql.OpenDB(conn)
	case Postgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("dsn: not a valid PostgreSQL URL or key=value string: %s", redactErr(err, dsn))
		}
		if cfg.RuntimeParams == nil {
			cfg.RuntimeParams = map[string]string{}
		}
		cfg.RuntimeParams["timezone"] = "UTC"
		db = stdlib.OpenDB(*cfg)
	default:
		return nil, fmt.Errorf("dialect: unknown dialect %q", d)
	}
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, classify(fmt.Errorf("connect to %s: %s", d, redactErr(err, dsn)))
	}
	return db, nil
}

// redactErr renders err without the DSN (or its password) in it.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if dsn != "" {
		msg = strings.ReplaceAll(msg, dsn, "[dsn]")
	}
	if i := strings.Index(dsn, ":"); i >= 0 {
		if j := strings.LastIndex(dsn, "@"); j > i+1 {
			pass := dsn[i+1 : j]
			if k := strings.LastIndex(pass, ":"); k >= 0 {
				pass = pass[k+1:]
			}
			if len(pass) >= 3 {
				msg = strings.ReplaceAll(msg, pass, "[hidden]")
			}
		}
	}
	return msg
}

// maxIdentLen is the longest identifier each database accepts.
func (d Dialect) maxIdentLen() int {
	if d == Postgres {
		return 63
	}
	return 64
}

// CheckIdent refuses identifiers no database would accept: empty, too long,
// holding NUL or invalid UTF-8. Anything else is made safe by Quote.
func (d Dialect) CheckIdent(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty identifier")
	case len(name) > d.maxIdentLen():
		return fmt.Errorf("identifier %q is longer than %d bytes", name, d.maxIdentLen())
	case strings.ContainsRune(name, 0) || !utf8.ValidString(name):
		return fmt.Errorf("identifier %q holds a NUL byte or invalid UTF-8", name)
	case d == MySQL && strings.HasSuffix(name, " "):
		return fmt.Errorf("identifier %q ends with a space, which MySQL refuses", name)
	}
	return nil
}

// Quote quotes an identifier: backticks for MySQL, double quotes for
// PostgreSQL, embedded quote characters doubled.
func (d Dialect) Quote(name string) string {
	q := `"`
	if d == MySQL {
		q = "`"
	}
	return q + strings.ReplaceAll(name, q, q+q) + q
}

func (d Dialect) quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = d.Quote(n)
	}
	return out
}

// placeholder returns the n-th (1-based) parameter marker.
func (d Dialect) placeholder(n int) string {
	if d == Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// currentSchema is the SQL expression for the namespace unqualified table
// names resolve to.
func (d Dialect) currentSchema() string {
	if d == Postgres {
		return "current_schema()"
	}
	return "DATABASE()"
}

// driverLog sends go-sql-driver/mysql's messages to slog.
type driverLog struct{ log *slog.Logger }

func (l driverLog) Print(v ...any) { l.log.Debug("mysql driver: " + fmt.Sprint(v...)) }
