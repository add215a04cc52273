package jdbc

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// isTransient reports errors that another attempt may not hit: deadlocks,
// lock timeouts, serialization failures and lost connections.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, 1205, 1040, 1053, 2006, 2013, 1927:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03" ||
			strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// isDataError reports errors caused by one row's values (a bad value for the
// column type, a value too long, a NULL in a NOT NULL column, a duplicate
// key): the row can be dead-lettered and the others written.
func isDataError(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1048, 1062, 1264, 1265, 1292, 1366, 1367, 1406, 1411, 1451, 1452, 1690,
			3140, 4025, 1364, 1263, 1416, 4078:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")
	}
	return false
}

// classify marks transient errors retryable for the worker.
func classify(err error) error {
	if isTransient(err) {
		return sdk.Retryable(err)
	}
	return err
}
