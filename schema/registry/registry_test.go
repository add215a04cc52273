package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

const userV1 = `{"type":"record","name":"User","namespace":"braid.test","fields":[
  {"name":"id","type":"long"},{"name":"name","type":"string"}]}`

// userV1Respelled is userV1 with other key order, whitespace and a
// {"type":"long"} spelling: it must normalise to the same id.
const userV1Respelled = `{"fields":[{"type":{"type":"long"},"name":"id"},{"name":"name","type":"string"}],
	"namespace":"braid.test","name":"User","type":"record"}`

const userV2 = `{"type":"record","name":"User","namespace":"braid.test","fields":[
  {"name":"id","type":"long"},{"name":"name","type":"string"},
  {"name":"email","type":["null","string"],"default":null}]}`

const userNoDefault = `{"type":"record","name":"User","namespace":"braid.test","fields":[
  {"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"age","type":"int"}]}`

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRegister(t *testing.T, r *Registry, subject string, s Schema) int {
	t.Helper()
	id, err := r.Register(ctxT(t), subject, s, RegisterOptions{})
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return id
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("want error code %d, got %v", code, err)
	}
}

func TestRegisterNormalisesAndVersions(t *testing.T) {
	t.Parallel()
	r := newJSRegistry(t)
	ctx := ctxT(t)
	id1 := mustRegister(t, r, "users-value", Schema{Schema: userV1})
	if id := mustRegister(t, r, "users-value", Schema{Schema: userV1Respelled}); id != id1 {
		t.Fatalf("respelled schema got id %d, want %d", id, id1)
	}
	if vs, _ := r.Versions(ctx, "users-value", false); len(vs) != 1 {
		t.Fatalf("versions = %v, want one", vs)
	}
	if id := mustRegister(t, r, "other-value", Schema{Schema: userV1, Type: Avro}); id != id1 {
		t.Fatalf("same schema under another subject got id %d, want %d", id, id1)
	}
	id2 := mustRegister(t, r, "users-value", Schema{Schema: userV2})
	if id2 == id1 {
		t.Fatal("new schema reused an id")
	}
	v, err := r.Version(ctx, "users-value", Latest, false)
	if err != nil || v.Version != 2 || v.ID != id2 {
		t.Fatalf("latest = %+v, %v", v, err)
	}
	got, err := r.Lookup(ctx, "users-value", Schema{Schema: userV1Respelled}, false)
	if err != nil || got.Version != 1 {
		t.Fatalf("lookup = %+v, %v", got, err)
	}
	svs, err := r.VersionsOfID(ctx, id1)
	if err != nil || len(svs) != 2 {
		t.Fatalf("versions of id %d = %v, %v", id1, svs, err)
	}
}

func TestIncompatibleRefusedWithReasons(t *testing.T) {
	t.Parallel()
	r := newJSRegistry(t)
	ctx := ctxT(t)
	mustRegister(t, r, "s", Schema{Schema: userV1})
	_, err := r.Register(ctx, "s", Schema{Schema: userNoDefault}, RegisterOptions{})
	wantCode(t, err, CodeIncompatibleSchema)
	var e *Error
	errors.As(err, &e)
	if len(e.Reasons) != 1 || !strings.Contains(e.Reasons[0], "READER_FIELD_MISSING_DEFAULT_VALUE") ||
		!strings.Contains(e.Reasons[0], `"age"`) {
		t.Fatalf("reasons = %q", e.Reasons)
	}
	if err := r.SetCompatibility(ctx, "s", None); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, "s", Schema{Schema: userNoDefault})
	if l, _ := r.Compatibility(ctx, "other", true); l != Backward {
		t.Fatalf("global level = %s", l)
	}
	_, err = r.Compatibility(ctx, "other", false)
	wantCode(t, err, CodeSubjectCompatNotConfigured)
}

func TestTransitive(t *testing.T) {
	t.Parallel()
	r := newJSRegistry(t)
	ctx := ctxT(t)
	// v1 has a; v2 drops a (BACKWARD ok); v3 re-adds a as int without default:
	// compatible with v2 but not with v1 (string -> int).
	v1 := `{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`
	v2 := `{"type":"record","name":"R","fields":[]}`
	v3 := `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}`
	if err := r.SetCompatibility(ctx, "", BackwardTransitive); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, "t", Schema{Schema: v1})
	mustRegister(t, r, "t", Schema{Schema: v2})
	_, err := r.Register(ctx, "t", Schema{Schema: v3}, RegisterOptions{})
	wantCode(t, err, CodeIncompatibleSchema)
	if !strings.Contains(err.Error(), "version 1") || !strings.Contains(err.Error(), "TYPE_MISMATCH") {
		t.Fatalf("error does not name version 1 and the rule: %v", err)
	}
	if err := r.SetCompatibility(ctx, "t", Backward); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, "t", Schema{Schema: v3})
}

func TestDeletes(t *testing.T) {
	t.Parallel()
	r := newJSRegistry(t)
	ctx := ctxT(t)
	id1 := mustRegister(t, r, "d", Schema{Schema: userV1})
	mustRegister(t, r, "d", Schema{Schema: userV2})
	_, err := r.DeleteVersion(ctx, "d", 1, true)
	wantCode(t, err, CodeVersionNotSoftDeleted)
	if v, err := r.DeleteVersion(ctx, "d", 1, false); err != nil || v != 1 {
		t.Fatalf("soft delete = %d, %v", v, err)
	}
	_, err = r.DeleteVersion(ctx, "d", 1, false)
	wantCode(t, err, CodeVersionSoftDeleted)
	_, err = r.Version(ctx, "d", 1, false)
	wantCode(t, err, CodeVersionNotFound)
	if v, err := r.Version(ctx, "d", 1, true); err != nil || v.ID != id1 {
		t.Fatalf("deleted lookup = %+v, %v", v, err)
	}
	_, err = r.DeleteSubject(ctx, "d", true)
	wantCode(t, err, CodeSubjectNotSoftDeleted)
	if vs, err := r.DeleteSubject(ctx, "d", false); err != nil || len(vs) != 2 {
		t.Fatalf("soft delete subject = %v, %v", vs, err)
	}
	_, err = r.Versions(ctx, "d", false)
	wantCode(t, err, CodeSubjectNotFound)
	if subs, _ := r.Subjects(ctx, "", true); len(subs) != 1 {
		t.Fatalf("deleted subjects = %v", subs)
	}
	if _, err := r.DeleteSubject(ctx, "d", true); err != nil {
		t.Fatal(err)
	}
	_, err = r.Versions(ctx, "d", true)
	wantCode(t, err, CodeSubjectNotFound)
	// Ids are never reused, and a re-registered schema keeps its id.
	if id := mustRegister(t, r, "d", Schema{Schema: userV1}); id != id1 {
		t.Fatalf("re-registered id = %d, want %d", id, id1)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	r := newJSRegistry(t)
	ctx := ctxT(t)
	if err := r.SetMode(ctx, "ro", ReadOnly, false); err != nil {
		t.Fatal(err)
	}
	_, err := r.Register(ctx, "ro", Schema{Schema: userV1}, RegisterOptions{})
	wantCode(t, err, CodeOperationNotPermitted)
	mustRegister(t, r, "rw", Schema{Schema: userV1})
	err = r.SetMode(ctx, "", Import, false)
	wantCode(t, err, CodeOperationNotPermitted)
	if err := r.SetMode(ctx, "imp", Import, false); err != nil {
		t.Fatal(err)
	}
	id, err := r.Register(ctx, "imp", Schema{Schema: userNoDefault}, RegisterOptions{ID: 100, Version: 7})
	if err != nil || id != 100 {
		t.Fatalf("import = %d, %v", id, err)
	}
	if v, err := r.Version(ctx, "imp", 7, false); err != nil || v.ID != 100 {
		t.Fatalf("imported version = %+v, %v", v, err)
	}
	// The counter moved past the imported id.
	if id := mustRegister(t, r, "rw2", Schema{Schema: userV2}); id <= 100 {
		t.Fatalf("id after import = %d, want > 100", id)
	}
	if m, err := r.DeleteMode(ctx, "ro"); err != nil || m != ReadOnly {
		t.Fatalf("delete mode = %s, %v", m, err)
	}
	_, err = r.Mode(ctx, "ro", false)
	wantCode(t, err, CodeSubjectModeNotConfigured)
}

func TestReferences(t *testing.T) {
	t.Parallel()
	r := newJSRegistry(t)
	ctx := ctxT(t)
	addr := `{"type":"record","name":"Address","namespace":"braid.test","fields":[{"name":"city","type":"string"}]}`
	mustRegister(t, r, "address", Schema{Schema: addr})
	person := `{"type":"record","name":"Person","namespace":"braid.test","fields":[{"name":"home","type":"braid.test.Address"}]}`
	_, err := r.Register(ctx, "person", Schema{Schema: person}, RegisterOptions{})
	wantCode(t, err, CodeInvalidSchema)
	refs := []Reference{{Name: "braid.test.Address", Subject: "address", Version: 1}}
	pid := mustRegister(t, r, "person", Schema{Schema: person, References: refs})
	if ids, err := r.ReferencedBy(ctx, "address", 1); err != nil || len(ids) != 1 || ids[0] != pid {
		t.Fatalf("referenced by = %v, %v", ids, err)
	}
	_, err = r.DeleteVersion(ctx, "address", 1, false)
	wantCode(t, err, CodeReferenceExists)

	mustRegister(t, r, "money.proto", Schema{Type: Protobuf, Schema: `syntax = "proto3"; package m; message Money { int64 cents = 1; }`})
	order := `syntax = "proto3"; package o; import "money.proto"; message Order { m.Money total = 1; }`
	mustRegister(t, r, "order", Schema{Type: Protobuf, Schema: order,
		References: []Reference{{Name: "money.proto", Subject: "money.proto", Version: 1}}})

	mustRegister(t, r, "customer", Schema{Type: JSON, Schema: `{"type":"object","properties":{"name":{"type":"string"}}}`})
	inv := `{"type":"object","properties":{"customer":{"$ref":"customer.json"}}}`
	mustRegister(t, r, "invoice", Schema{Type: JSON, Schema: inv,
		References: []Reference{{Name: "customer.json", Subject: "customer", Version: 1}}})
}

func TestPersistsAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, store := startJS(t, dir)
	r := New(store, nil)
	id1 := mustRegister(t, r, "p", Schema{Schema: userV1})
	if err := r.SetCompatibility(ctxT(t), "p", Full); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	conn, store = startJS(t, dir)
	defer conn.Close(context.Background())
	r = New(store, nil)
	ctx := ctxT(t)
	v, err := r.Version(ctx, "p", 1, false)
	if err != nil || v.ID != id1 || v.Schema.Schema != userV1 {
		t.Fatalf("after restart: %+v, %v", v, err)
	}
	if l, _ := r.Compatibility(ctx, "p", false); l != Full {
		t.Fatalf("level after restart = %s", l)
	}
	if id := mustRegister(t, r, "p", Schema{Schema: userV2}); id == id1 {
		t.Fatalf("id %d reused after restart", id)
	}
}

// TestConcurrentWorkers registers from several registries sharing one bucket,
// as several workers do: ids must be unique, versions gap-free, and each
// version checked against the one before it.
func TestConcurrentWorkers(t *testing.T) {
	t.Parallel()
	conn, store := startJS(t, t.TempDir())
	defer conn.Close(context.Background())
	ctx := ctxT(t)
	const workers, each = 4, 5
	ids := make(chan int, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := New(store, nil)
			for i := range each {
				// Each schema is BACKWARD compatible with any other: its one
				// field has a default.
				s := fmt.Sprintf(`{"type":"record","name":"R","fields":[{"name":"f%d_%d","type":"int","default":0}]}`, w, i)
				id, err := r.Register(ctx, "shared", Schema{Schema: s}, RegisterOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[int]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d handed out twice", id)
		}
		seen[id] = true
	}
	vs, err := New(store, nil).Versions(ctx, "shared", false)
	if err != nil || len(vs) != workers*each || vs[len(vs)-1] != workers*each {
		t.Fatalf("versions = %v, %v", vs, err)
	}
}

// TestConcurrentConflictingVersions registers two schemas that are each
// compatible with v1 but not with each other, from two workers at once:
// exactly one may land.
func TestConcurrentConflictingVersions(t *testing.T) {
	t.Parallel()
	conn, store := startJS(t, t.TempDir())
	defer conn.Close(context.Background())
	ctx := ctxT(t)
	mustRegister(t, New(store, nil), "c", Schema{Schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`})
	schemas := []string{
		`{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}`,
		`{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}`,
	}
	errs := make(chan error, len(schemas))
	for _, s := range schemas {
		go func() {
			_, err := New(store, nil).Register(ctx, "c", Schema{Schema: s}, RegisterOptions{})
			errs <- err
		}()
	}
	ok := 0
	for range schemas {
		err := <-errs
		if err == nil {
			ok++
			continue
		}
		wantCode(t, err, CodeIncompatibleSchema)
	}
	if ok != 1 {
		t.Fatalf("%d of 2 conflicting registrations landed", ok)
	}
}
