package registry

import (
	"errors"
	"fmt"
	"net/http"
)

// Confluent Schema Registry error codes; the HTTP status is code/100.
const (
	CodeSubjectNotFound            = 40401
	CodeVersionNotFound            = 40402
	CodeSchemaNotFound             = 40403
	CodeSubjectSoftDeleted         = 40404
	CodeSubjectNotSoftDeleted      = 40405
	CodeVersionSoftDeleted         = 40406
	CodeVersionNotSoftDeleted      = 40407
	CodeSubjectCompatNotConfigured = 40408
	CodeSubjectModeNotConfigured   = 40409
	CodeIncompatibleSchema         = 40901
	CodeInvalidSchema              = 42201
	CodeInvalidVersion             = 42202
	CodeInvalidCompatibilityLevel  = 42203
	CodeInvalidMode                = 42204
	CodeOperationNotPermitted      = 42205
	CodeReferenceExists            = 42206
	CodeIDDoesNotMatch             = 42207
	CodeInvalidSubject             = 42208
	CodeStoreError                 = 50001
	CodeOperationTimeout           = 50002
)

// Error is a registry error carrying Confluent's error code. Messages name the
// subject, version or id concerned.
type Error struct {
	Code    int
	Message string
	// Reasons lists why a schema is incompatible, one rule violation each.
	Reasons []string
	err     error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.err }

// Status is the HTTP status for the error.
func (e *Error) Status() int {
	s := e.Code
	for s >= 1000 {
		s /= 10
	}
	if s < 400 || s > 599 {
		return http.StatusInternalServerError
	}
	return s
}

// Is matches errors by code, so errors.Is(err, ErrSubjectNotFound) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Sentinels matched with errors.Is; they compare by code only.
var (
	ErrSubjectNotFound     = &Error{Code: CodeSubjectNotFound}
	ErrVersionNotFound     = &Error{Code: CodeVersionNotFound}
	ErrSchemaNotFound      = &Error{Code: CodeSchemaNotFound}
	ErrIncompatible        = &Error{Code: CodeIncompatibleSchema}
	ErrInvalidSchema       = &Error{Code: CodeInvalidSchema}
	ErrOperationNotAllowed = &Error{Code: CodeOperationNotPermitted}
)

func newErr(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errSubjectNotFound(subject string) *Error {
	return newErr(CodeSubjectNotFound, "Subject '%s' not found.", subject)
}

func errVersionNotFound(v int) *Error {
	return newErr(CodeVersionNotFound, "Version %d not found.", v)
}

func errSchemaNotFound(id int) *Error {
	return newErr(CodeSchemaNotFound, "Schema %d not found", id)
}

func errInvalidSchema(err error) *Error {
	return &Error{Code: CodeInvalidSchema, Message: "Invalid schema: " + err.Error(), err: err}
}

func errStore(op string, err error) *Error {
	return &Error{Code: CodeStoreError, Message: fmt.Sprintf("Error while %s: %v", op, err), err: err}
}

// AsError returns err as a registry *Error, wrapping unknown errors as store errors.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errStore("accessing the schema store", err)
}
