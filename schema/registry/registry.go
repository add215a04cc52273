package registry

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Store keys. Subjects may hold any character, so they are base64url-encoded
// into keys (JetStream KV keys allow only [-/_=.a-zA-Z0-9]).
const (
	keyNextID  = "meta.nextid"
	keySchema  = "schemas."  // + id → storedSchema
	keyFP      = "fp."       // + sha256 of the normalised schema → id
	keySubject = "subjects." // + b64(subject) → subjectDoc
	keyConfig  = "config"    // global; + "." + b64(subject) per subject
	keyMode    = "mode"      // global; + "." + b64(subject) per subject
)

// casRetries bounds optimistic-concurrency retries against other workers.
const casRetries = 32

// subjectKey is the key of a subject's versions. Keys are built only here
// and in scopedKey, both after ValidateSubject, so no subject can make a key
// longer than NATS accepts.
func subjectKey(subject string) (string, error) {
	if err := ValidateSubject(subject); err != nil {
		return "", err
	}
	return keySubject + base64.RawURLEncoding.EncodeToString([]byte(subject)), nil
}

// scopedKey is the key of a setting of subject, or the global one for "".
func scopedKey(base, subject string) (string, error) {
	if subject == "" {
		return base, nil
	}
	if err := ValidateSubject(subject); err != nil {
		return "", err
	}
	return base + "." + base64.RawURLEncoding.EncodeToString([]byte(subject)), nil
}

// MaxSubjectLen bounds a subject, in bytes: its key, base64url-encoded, stays
// far below the NATS control line (4 KB) that a 5,000-byte subject broke.
const MaxSubjectLen = 255

// ValidateSubject accepts what Confluent's subjects hold in practice, and
// refuses what would break a key or a log line: 1 to MaxSubjectLen bytes of
// printable UTF-8 without whitespace or control characters. So
// "orders-value", "com.example.User", ":.ctx:orders" and "a/b" are subjects.
// It fails with 42208.
func ValidateSubject(subject string) error {
	why := ""
	switch {
	case subject == "":
		why = "empty"
	case len(subject) > MaxSubjectLen:
		why = fmt.Sprintf("%d bytes, more than %d", len(subject), MaxSubjectLen)
	case !utf8.ValidString(subject):
		why = "not valid UTF-8"
	default:
		for i, c := range subject {
			if !unicode.IsPrint(c) || unicode.IsSpace(c) {
				why = fmt.Sprintf("character %q at byte %d; whitespace and control characters are not allowed", c, i)
				break
			}
		}
	}
	if why == "" {
		return nil
	}
	shown := subject
	if len(shown) > 48 {
		shown = fmt.Sprintf("%s… (%d bytes)", shown[:40], len(subject))
	}
	return newErr(CodeInvalidSubject, "Invalid subject %q: %s", shown, why)
}

// storedSchema is one schema id's record.
type storedSchema struct {
	Schema
	Fingerprint string `json:"fingerprint"`
}

// versionEntry is one version of a subject.
type versionEntry struct {
	Version int  `json:"version"`
	ID      int  `json:"id"`
	Deleted bool `json:"deleted,omitempty"`
}

// subjectDoc holds all versions of a subject; it is updated with CAS.
type subjectDoc struct {
	Versions []versionEntry `json:"versions"`
}

func (d *subjectDoc) live() []versionEntry {
	var out []versionEntry
	for _, v := range d.Versions {
		if !v.Deleted {
			out = append(out, v)
		}
	}
	return out
}

func (d *subjectDoc) find(version int) *versionEntry {
	for i := range d.Versions {
		if d.Versions[i].Version == version {
			return &d.Versions[i]
		}
	}
	return nil
}

// Registry is the schema registry over a Store. It is safe for concurrent
// use, and several Registries over one Store (one per worker) stay consistent.
type Registry struct {
	store Store
	log   *slog.Logger

	// ids are immutable, so parsed schemas are cached by id forever.
	mu     sync.RWMutex
	byID   map[int]*Stored
	parsed map[int]Parsed
}

// Stored is a schema as registered under an id.
type Stored struct {
	ID int
	Schema
}

// New returns a registry over store; logger may be nil.
func New(store Store, logger *slog.Logger) *Registry {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{store: store, log: logger, byID: map[int]*Stored{}, parsed: map[int]Parsed{}}
}

func (r *Registry) getJSON(ctx context.Context, key string, v any) (uint64, error) {
	e, err := r.store.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return e.Revision, nil
}

// loadSubject returns a subject's versions and revision (0 when absent).
func (r *Registry) loadSubject(ctx context.Context, subject string) (*subjectDoc, uint64, error) {
	var d subjectDoc
	key, err := subjectKey(subject)
	if err != nil {
		return nil, 0, err
	}
	rev, err := r.getJSON(ctx, key, &d)
	if errors.Is(err, ErrKeyNotFound) {
		return &d, 0, nil
	}
	if err != nil {
		return nil, 0, errStore("reading subject "+strconv.Quote(subject), err)
	}
	return &d, rev, nil
}

// saveSubject writes a subject with CAS; ErrWrongRevision means retry.
func (r *Registry) saveSubject(ctx context.Context, subject string, d *subjectDoc, rev uint64) error {
	key, err := subjectKey(subject)
	if err != nil {
		return err
	}
	if len(d.Versions) == 0 {
		return r.store.Delete(ctx, key)
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = r.store.Create(ctx, key, b)
		if errors.Is(err, ErrKeyExists) {
			return ErrWrongRevision
		}
		return err
	}
	_, err = r.store.Update(ctx, key, b, rev)
	return err
}

// updateSubject applies fn to a subject's versions under CAS, retrying when
// another worker changed them first.
func (r *Registry) updateSubject(ctx context.Context, subject string, fn func(*subjectDoc) error) error {
	for range casRetries {
		d, rev, err := r.loadSubject(ctx, subject)
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
		err = r.saveSubject(ctx, subject, d, rev)
		if errors.Is(err, ErrWrongRevision) {
			continue
		}
		if err != nil {
			return errStore("writing subject "+strconv.Quote(subject), err)
		}
		return nil
	}
	return newErr(CodeOperationTimeout, "Subject '%s' changed concurrently too often; retry", subject)
}

// SchemaByID returns the schema registered under id.
func (r *Registry) SchemaByID(ctx context.Context, id int) (*Stored, error) {
	r.mu.RLock()
	s, ok := r.byID[id]
	r.mu.RUnlock()
	if ok {
		return s, nil
	}
	var ss storedSchema
	if _, err := r.getJSON(ctx, keySchema+strconv.Itoa(id), &ss); err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return nil, errSchemaNotFound(id)
		}
		return nil, errStore(fmt.Sprintf("reading schema %d", id), err)
	}
	s = &Stored{ID: id, Schema: ss.Schema}
	r.mu.Lock()
	r.byID[id] = s
	r.mu.Unlock()
	return s, nil
}

// ParsedByID returns the parsed form of the schema registered under id,
// cached after the first call.
func (r *Registry) ParsedByID(ctx context.Context, id int) (Parsed, error) {
	r.mu.RLock()
	p, ok := r.parsed[id]
	r.mu.RUnlock()
	if ok {
		return p, nil
	}
	s, err := r.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err = r.Parse(ctx, s.Schema)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.parsed[id] = p
	r.mu.Unlock()
	return p, nil
}

// Parse validates a schema, resolving its references through the registry.
func (r *Registry) Parse(ctx context.Context, s Schema) (Parsed, error) {
	if _, err := ParseFormat(string(s.Type)); err != nil {
		return nil, errInvalidSchema(err)
	}
	refs, err := r.resolveRefs(ctx, s.References, map[SubjectVersion]bool{}, nil)
	if err != nil {
		return nil, err
	}
	p, err := parse(s, refs)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	return p, nil
}

// resolveRefs returns referenced schemas depth-first, dependencies first.
func (r *Registry) resolveRefs(ctx context.Context, refs []Reference, seen map[SubjectVersion]bool, out []resolvedRef) ([]resolvedRef, error) {
	for _, ref := range refs {
		if ref.Name == "" || ref.Subject == "" {
			return nil, newErr(CodeInvalidSchema, "Invalid schema: reference needs a name and a subject")
		}
		v, err := r.Version(ctx, ref.Subject, ref.Version, false)
		if err != nil {
			return nil, newErr(CodeInvalidSchema, "Invalid schema: reference %q to subject '%s' version %d: %v",
				ref.Name, ref.Subject, ref.Version, err)
		}
		key := SubjectVersion{Subject: v.Subject, Version: v.Version}
		if seen[key] {
			continue
		}
		if len(seen) >= maxReferences {
			return nil, newErr(CodeInvalidSchema, "Invalid schema: it reaches more than %d references", maxReferences)
		}
		seen[key] = true
		if out, err = r.resolveRefs(ctx, v.References, seen, out); err != nil {
			return nil, err
		}
		out = append(out, resolvedRef{Name: ref.Name, Schema: v.Schema})
	}
	return out, nil
}

// fingerprint identifies a normalised schema together with its references.
func fingerprint(p Parsed, refs []Reference) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n%s\n", p.Format(), len(p.Canonical()), p.Canonical())
	for _, ref := range refs {
		fmt.Fprintf(h, "%q %q %d\n", ref.Name, ref.Subject, ref.Version)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// idFor returns the id of a schema, allocating one when it is new.
func (r *Registry) idFor(ctx context.Context, s Schema, fp string, want int) (int, error) {
	var id int
	_, err := r.getJSON(ctx, keyFP+fp, &id)
	if err == nil {
		if want > 0 && want != id {
			return 0, newErr(CodeIDDoesNotMatch, "Schema already registered with id %d instead of input id %d", id, want)
		}
		return id, nil
	}
	if !errors.Is(err, ErrKeyNotFound) {
		return 0, errStore("looking up schema", err)
	}
	if want > 0 {
		id = want
		if err := r.reserveID(ctx, want); err != nil {
			return 0, err
		}
	} else if id, err = r.nextID(ctx); err != nil {
		return 0, err
	}
	b, _ := json.Marshal(storedSchema{Schema: s, Fingerprint: fp})
	if _, err := r.store.Create(ctx, keySchema+strconv.Itoa(id), b); err != nil {
		if errors.Is(err, ErrKeyExists) {
			return 0, newErr(CodeIDDoesNotMatch, "Overwrite new schema with id %d is not permitted: the id holds another schema", id)
		}
		return 0, errStore("storing schema", err)
	}
	if _, err := r.store.Create(ctx, keyFP+fp, []byte(strconv.Itoa(id))); err != nil {
		if errors.Is(err, ErrKeyExists) {
			// Another worker registered the same schema first: use its id.
			// Ours stays allocated (ids are never reused) but unreferenced.
			var other int
			if _, err := r.getJSON(ctx, keyFP+fp, &other); err == nil {
				return other, nil
			}
		}
		return 0, errStore("storing schema fingerprint", err)
	}
	return id, nil
}

// nextID allocates a fresh schema id with compare-and-set.
func (r *Registry) nextID(ctx context.Context) (int, error) {
	for range casRetries {
		e, err := r.store.Get(ctx, keyNextID)
		if errors.Is(err, ErrKeyNotFound) {
			if _, err := r.store.Create(ctx, keyNextID, []byte("2")); err == nil {
				return 1, nil
			} else if !errors.Is(err, ErrKeyExists) {
				return 0, errStore("allocating schema id", err)
			}
			continue
		}
		if err != nil {
			return 0, errStore("allocating schema id", err)
		}
		next, err := strconv.Atoi(string(e.Value))
		if err != nil {
			return 0, errStore("allocating schema id", err)
		}
		_, err = r.store.Update(ctx, keyNextID, []byte(strconv.Itoa(next+1)), e.Revision)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, ErrWrongRevision) {
			return 0, errStore("allocating schema id", err)
		}
	}
	return 0, newErr(CodeOperationTimeout, "could not allocate a schema id: too much contention; retry")
}

// reserveID moves the id counter past an imported id.
func (r *Registry) reserveID(ctx context.Context, id int) error {
	for range casRetries {
		e, err := r.store.Get(ctx, keyNextID)
		if errors.Is(err, ErrKeyNotFound) {
			_, err = r.store.Create(ctx, keyNextID, []byte(strconv.Itoa(id+1)))
			if err == nil || !errors.Is(err, ErrKeyExists) {
				return wrapStore("reserving schema id", err)
			}
			continue
		}
		if err != nil {
			return errStore("reserving schema id", err)
		}
		next, _ := strconv.Atoi(string(e.Value))
		if next > id {
			return nil
		}
		_, err = r.store.Update(ctx, keyNextID, []byte(strconv.Itoa(id+1)), e.Revision)
		if !errors.Is(err, ErrWrongRevision) {
			return wrapStore("reserving schema id", err)
		}
	}
	return newErr(CodeOperationTimeout, "could not reserve schema id %d: too much contention; retry", id)
}

func wrapStore(op string, err error) error {
	if err == nil {
		return nil
	}
	return errStore(op, err)
}

// Subjects lists subjects with at least one version (soft-deleted ones too
// when deleted is set), optionally only those starting with prefix.
func (r *Registry) Subjects(ctx context.Context, prefix string, deleted bool) ([]string, error) {
	keys, err := r.store.Keys(ctx, keySubject)
	if err != nil {
		return nil, errStore("listing subjects", err)
	}
	out := []string{}
	for _, k := range keys {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(k, keySubject))
		if err != nil || !strings.HasPrefix(string(b), prefix) {
			continue
		}
		d, _, err := r.loadSubject(ctx, string(b))
		if err != nil {
			return nil, err
		}
		if len(d.live()) > 0 || (deleted && len(d.Versions) > 0) {
			out = append(out, string(b))
		}
	}
	return out, nil
}
