package sdk

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrEndOfInput is returned by Source.Read when a finite source has nothing more.
	ErrEndOfInput = errors.New("end of input")
	// ErrBackoff is returned by Source.Read when there is nothing to read right now.
	ErrBackoff = errors.New("nothing to read, back off")
	// ErrNotFound is returned by Store.Get for a missing key.
	ErrNotFound = errors.New("not found")
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("invalid config")
)

// retryable marks an error as transient: the worker retries with backoff.
type retryable struct{ err error }

func (e retryable) Error() string { return e.err.Error() }
func (e retryable) Unwrap() error { return e.err }

// fatal marks an error as permanent: the task fails without retrying.
type fatal struct{ err error }

func (e fatal) Error() string { return e.err.Error() }
func (e fatal) Unwrap() error { return e.err }

// Retryable marks err as transient (a lost connection, a deadlock, a 503).
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}

// Fatal marks err as permanent (bad credentials, a missing table with
// auto-create off): retrying cannot help.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return fatal{err}
}

// IsRetryable reports whether err was marked Retryable.
func IsRetryable(err error) bool { var r retryable; return errors.As(err, &r) }

// IsFatal reports whether err was marked Fatal.
func IsFatal(err error) bool { var f fatal; return errors.As(err, &f) }

// RecordError says one record of a batch could not be handled; the worker sends
// it to the dead-letter topic (or fails the task, by the error policy).
type RecordError struct {
	Index int // index in the batch passed to Write
	Err   error
}

func (e RecordError) Error() string { return fmt.Sprintf("record %d: %v", e.Index, e.Err) }
func (e RecordError) Unwrap() error { return e.Err }

// BatchError lists the records of a batch that failed; the others succeeded.
type BatchError struct {
	Records []RecordError
}

func (e *BatchError) Error() string {
	parts := make([]string, 0, len(e.Records))
	for i, r := range e.Records {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Records)-3))
			break
		}
		parts = append(parts, r.Error())
	}
	return "records failed: " + strings.Join(parts, "; ")
}

// BackoffError asks the worker to wait before calling again.
type BackoffError struct {
	Wait time.Duration
	Err  error
}

func (e *BackoffError) Error() string { return fmt.Sprintf("back off %s: %v", e.Wait, e.Err) }
func (e *BackoffError) Unwrap() error { return e.Err }
