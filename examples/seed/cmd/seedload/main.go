package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/braidhq/braid/examples/seed/load"
)

const (
	defMariaDB  = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
	defPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: seedload prepare|web|wait [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "prepare":
		err = prepare(ctx, os.Args[2:])
	case "web":
		err = web(ctx, os.Args[2:])
	case "wait":
		err = wait(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: use prepare, web or wait", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "seedload:", err)
		os.Exit(1)
	}
}

func prepare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("prepare", flag.ExitOnError)
	mdsn := fs.String("mariadb", defMariaDB, "MariaDB DSN")
	table := fs.String("table", "seed_transactions", "transactions table to (re)create in MariaDB")
	n := fs.Int("n", 500, "transactions to insert")
	pdsn := fs.String("postgres", defPostgres, "PostgreSQL URL")
	prefix := fs.String("pg-prefix", "seed_", "prefix of the PostgreSQL target tables to drop")
	_ = fs.Parse(args)
	mdb, err := sql.Open("mysql", *mdsn)
	if err != nil {
		return err
	}
	defer mdb.Close()
	if err := load.PrepareMariaDB(ctx, mdb, *table, *n); err != nil {
		return err
	}
	pdb, err := sql.Open("pgx", *pdsn)
	if err != nil {
		return err
	}
	defer pdb.Close()
	if err := load.DropPostgres(ctx, pdb, *prefix+"transactions", *prefix+"prices"); err != nil {
		return err
	}
	fmt.Printf("MariaDB table %s holds %d transactions (%d above 1000.00); PostgreSQL tables %stransactions and %sprices dropped\n",
		*table, *n, *n/load.BigEvery, *prefix, *prefix)
	return nil
}

func web(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("web", flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:9480/events", "webhook URL")
	batches := fs.Int("batches", 20, "requests to send")
	size := fs.Int("size", 50, "events per request")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long (the webhook may still be starting)")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	if err := load.PostEvents(ctx, &http.Client{Timeout: 30 * time.Second}, *url, *batches, *size); err != nil {
		return err
	}
	fmt.Printf("posted %d events in %d requests to %s in %v\n", *batches**size, *batches, *url, time.Since(start).Round(time.Millisecond))
	return nil
}
