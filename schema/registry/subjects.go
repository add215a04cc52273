package registry

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
)

// Latest asks for the newest live version of a subject.
const Latest = -1

// Version returns one version of a subject; v is a version number or Latest.
// Soft-deleted versions are found only when deleted is set.
func (r *Registry) Version(ctx context.Context, subject string, v int, deleted bool) (*Version, error) {
	d, _, err := r.loadSubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	if len(d.Versions) == 0 || (!deleted && len(d.live()) == 0) {
		return nil, errSubjectNotFound(subject)
	}
	var e *versionEntry
	if v == Latest {
		for i := range d.Versions {
			if deleted || !d.Versions[i].Deleted {
				e = &d.Versions[i]
			}
		}
	} else if v <= 0 {
		return nil, newErr(CodeInvalidVersion,
			"The specified version '%d' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
	} else if e = d.find(v); e != nil && e.Deleted && !deleted {
		e = nil
	}
	if e == nil {
		return nil, errVersionNotFound(v)
	}
	s, err := r.SchemaByID(ctx, e.ID)
	if err != nil {
		return nil, err
	}
	return &Version{Subject: subject, Version: e.Version, ID: e.ID, Schema: s.Schema, Deleted: e.Deleted}, nil
}

// Versions lists a subject's version numbers.
func (r *Registry) Versions(ctx context.Context, subject string, deleted bool) ([]int, error) {
	d, _, err := r.loadSubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	out := []int{}
	for _, v := range d.Versions {
		if deleted || !v.Deleted {
			out = append(out, v.Version)
		}
	}
	if len(out) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	return out, nil
}

// RegisterOptions carries the optional parts of a registration.
type RegisterOptions struct {
	// ID and Version force both in IMPORT mode.
	ID, Version int
}

// Register adds a schema to a subject and returns its id. A schema already
// live under the subject returns its existing id; one registered under
// another subject reuses that id; an incompatible one fails with code 40901
// and the reasons.
func (r *Registry) Register(ctx context.Context, subject string, s Schema, opts RegisterOptions) (int, error) {
	if err := ValidateSubject(subject); err != nil {
		return 0, err
	}
	mode, err := r.Mode(ctx, subject, true)
	if err != nil {
		return 0, err
	}
	switch {
	case mode == ReadOnly:
		return 0, newErr(CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	case mode != Import && opts.ID > 0:
		return 0, newErr(CodeOperationNotPermitted, "Subject %s is not in import mode: a schema id cannot be given", subject)
	}
	if s.Type == Avro {
		s.Type = "" // Confluent omits AVRO
	}
	parsed, err := r.Parse(ctx, s)
	if err != nil {
		return 0, err
	}
	fp := fingerprint(parsed, s.References)
	if id, ok, err := r.existing(ctx, subject, fp); err != nil || ok {
		return id, err
	}
	var id int
	for range casRetries {
		id, err = r.registerOnce(ctx, subject, s, parsed, fp, mode, opts)
		if !errors.Is(err, errSubjectChanged) {
			break
		}
	}
	if errors.Is(err, errSubjectChanged) {
		return 0, newErr(CodeOperationTimeout, "Subject '%s' changed concurrently too often; retry", subject)
	}
	if err != nil {
		return 0, err
	}
	r.log.Info("schema registered", "subject", subject, "id", id)
	return id, nil
}

// errSubjectChanged means another worker added or deleted a version between
// the compatibility check and the write: check again.
var errSubjectChanged = errors.New("subject changed during registration")

// registerOnce checks compatibility against a snapshot of the subject and
// appends the version only if the subject still matches that snapshot, so
// concurrent registrations on several workers are each checked against the
// version before them.
func (r *Registry) registerOnce(ctx context.Context, subject string, s Schema, parsed Parsed, fp string,
	mode Mode, opts RegisterOptions) (int, error) {
	snap, _, err := r.loadSubject(ctx, subject)
	if err != nil {
		return 0, err
	}
	if mode != Import {
		reasons, err := r.checkAgainst(ctx, subject, snap, parsed, 0)
		if err != nil {
			return 0, err
		}
		if len(reasons) > 0 {
			return 0, errIncompatible(subject, reasons)
		}
	}
	id, err := r.idFor(ctx, s, fp, opts.ID)
	if err != nil {
		return 0, err
	}
	return id, r.updateSubject(ctx, subject, func(d *subjectDoc) error {
		for _, v := range d.live() {
			if v.ID == id {
				return nil // registered meanwhile by another worker
			}
		}
		if !slices.Equal(d.live(), snap.live()) {
			return errSubjectChanged
		}
		next := 1
		for _, v := range d.Versions {
			next = max(next, v.Version+1)
		}
		if opts.Version > 0 {
			if d.find(opts.Version) != nil {
				return newErr(CodeOperationNotPermitted, "Subject %s already has version %d", subject, opts.Version)
			}
			next = opts.Version
		}
		d.Versions = append(d.Versions, versionEntry{Version: next, ID: id})
		sort.Slice(d.Versions, func(i, j int) bool { return d.Versions[i].Version < d.Versions[j].Version })
		return nil
	})
}

// existing finds a live version of subject with the same normalised schema.
func (r *Registry) existing(ctx context.Context, subject, fp string) (int, bool, error) {
	var id int
	if _, err := r.getJSON(ctx, keyFP+fp, &id); err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return 0, false, nil
		}
		return 0, false, errStore("looking up schema", err)
	}
	d, _, err := r.loadSubject(ctx, subject)
	if err != nil {
		return 0, false, err
	}
	for _, v := range d.live() {
		if v.ID == id {
			return id, true, nil
		}
	}
	return 0, false, nil
}

func errIncompatible(subject string, reasons []string) *Error {
	msg := "Schema being registered is incompatible with an earlier schema for subject \"" + subject + "\", details: ["
	for i, r := range reasons {
		if i > 0 {
			msg += ", "
		}
		msg += r
	}
	return &Error{Code: CodeIncompatibleSchema, Message: msg + "]", Reasons: reasons}
}

// Lookup finds the version of subject holding schema s.
func (r *Registry) Lookup(ctx context.Context, subject string, s Schema, deleted bool) (*Version, error) {
	d, _, err := r.loadSubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	if len(d.Versions) == 0 || (!deleted && len(d.live()) == 0) {
		return nil, errSubjectNotFound(subject)
	}
	parsed, err := r.Parse(ctx, s)
	if err != nil {
		return nil, err
	}
	fp := fingerprint(parsed, s.References)
	var id int
	if _, err := r.getJSON(ctx, keyFP+fp, &id); err != nil && !errors.Is(err, ErrKeyNotFound) {
		return nil, errStore("looking up schema", err)
	}
	for i := len(d.Versions) - 1; i >= 0; i-- {
		v := d.Versions[i]
		if v.ID == id && id > 0 && (deleted || !v.Deleted) {
			return r.Version(ctx, subject, v.Version, true)
		}
	}
	return nil, newErr(CodeSchemaNotFound, "Schema not found")
}

// CheckCompatibility tests s against a subject's version v (a number or
// Latest), or, with v == 0, against the versions its level names. It returns
// the reasons for incompatibility, none when compatible.
func (r *Registry) CheckCompatibility(ctx context.Context, subject string, v int, s Schema) ([]string, error) {
	parsed, err := r.Parse(ctx, s)
	if err != nil {
		return nil, err
	}
	if v != 0 {
		if _, err := r.Version(ctx, subject, v, false); err != nil {
			var e *Error
			if v == Latest && errors.As(err, &e) && e.Code == CodeSubjectNotFound {
				return nil, nil // nothing to be incompatible with
			}
			return nil, err
		}
	}
	d, _, err := r.loadSubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	return r.checkAgainst(ctx, subject, d, parsed, v)
}

// checkAgainst applies the subject's level to parsed; version 0 picks the
// versions by level, otherwise only that version is checked.
func (r *Registry) checkAgainst(ctx context.Context, subject string, d *subjectDoc, parsed Parsed, version int) ([]string, error) {
	level, err := r.Compatibility(ctx, subject, true)
	if err != nil {
		return nil, err
	}
	if level == None {
		return nil, nil
	}
	live := d.live()
	switch {
	case version == Latest || (version == 0 && !level.transitive()):
		if len(live) > 0 {
			live = live[len(live)-1:]
		}
	case version > 0:
		live = slices.DeleteFunc(live, func(e versionEntry) bool { return e.Version != version })
	}
	var reasons []string
	b := newBudget()
	for i := len(live) - 1; i >= 0; i-- {
		old, err := r.ParsedByID(ctx, live[i].ID)
		if err != nil {
			return nil, err
		}
		prefix := "version " + strconv.Itoa(live[i].Version) + ": "
		if level.backward() {
			for _, m := range compatible(parsed, old, b) {
				reasons = append(reasons, prefix+m+" (BACKWARD: the new schema cannot read data written with the old)")
			}
		}
		if level.forward() {
			for _, m := range compatible(old, parsed, b) {
				reasons = append(reasons, prefix+m+" (FORWARD: the old schema cannot read data written with the new)")
			}
		}
		if b.exceeded() {
			return nil, b.err()
		}
	}
	return reasons, nil
}
