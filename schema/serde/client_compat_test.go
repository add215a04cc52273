package serde

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/braidhq/braid/schema/registry"
	hambareg "github.com/hamba/avro/v2/registry"
)

// TestConfluentClient drives Braid's registry API with an existing Confluent
// Schema Registry client (hamba/avro's), unchanged, and decodes the
// converter's output with that client's own wire-format decoder.
func TestConfluentClient(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	reg := registry.New(registry.NewMemStore(), nil)
	srv := httptest.NewServer(registry.Handler(reg, nil))
	defer srv.Close()
	client, err := hambareg.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	v1 := `{"type":"record","name":"ClientProbe","namespace":"braid.clienttest","fields":[{"name":"a","type":"long"}]}`
	v2 := `{"type":"record","name":"ClientProbe","namespace":"braid.clienttest","fields":[{"name":"a","type":"long"},{"name":"b","type":"string","default":"x"}]}`
	bad := `{"type":"record","name":"ClientProbe","namespace":"braid.clienttest","fields":[{"name":"a","type":"string"}]}`

	id, _, err := client.CreateSchema(ctx, "probe-value", v1)
	if err != nil || id != 1 {
		t.Fatalf("create: %d %v", id, err)
	}
	if s, err := client.GetSchema(ctx, id); err != nil || s.(interface{ FullName() string }).FullName() != "braid.clienttest.ClientProbe" {
		t.Fatalf("get schema: %v %v", s, err)
	}
	if got, _, err := client.IsRegistered(ctx, "probe-value", v1); err != nil || got != id {
		t.Fatalf("is registered: %d %v", got, err)
	}
	if ok, err := client.IsCompatible(ctx, "probe-value", v2); err != nil || !ok {
		t.Fatalf("compatible v2: %v %v", ok, err)
	}
	if ok, err := client.IsCompatible(ctx, "probe-value", bad); err != nil || ok {
		t.Fatalf("compatible bad: %v %v", ok, err)
	}
	_, _, err = client.CreateSchema(ctx, "probe-value", bad)
	var re hambareg.Error
	if !errors.As(err, &re) || re.Code != registry.CodeIncompatibleSchema || re.StatusCode != 409 {
		t.Fatalf("incompatible create: %v", err)
	}
	if _, _, err := client.CreateSchema(ctx, "probe-value", v2); err != nil {
		t.Fatal(err)
	}
	info, err := client.GetLatestSchemaInfo(ctx, "probe-value")
	if err != nil || info.Version != 2 || info.ID != 2 {
		t.Fatalf("latest info: %+v %v", info, err)
	}
	if err := client.SetCompatibilityLevel(ctx, "probe-value", "FULL"); err != nil {
		t.Fatal(err)
	}
	// hamba's GetCompatibilityLevel reads "compatibility", but Confluent
	// answers GET /config with "compatibilityLevel" (as Braid does), so that
	// call returns "" against both; check the level server-side instead.
	if lvl, err := reg.Compatibility(ctx, "probe-value", false); err != nil || lvl != registry.Full {
		t.Fatalf("level: %q %v", lvl, err)
	}
	if subs, err := client.GetSubjects(ctx); err != nil || len(subs) != 1 {
		t.Fatalf("subjects: %v %v", subs, err)
	}
	_, err = client.GetLatestSchemaInfo(ctx, "nope")
	if !errors.As(err, &re) || re.Code != registry.CodeSubjectNotFound {
		t.Fatalf("missing subject: %v", err)
	}

	// The converter's bytes decode with the client's own decoder.
	c, _ := New(reg, "avro", Options{Subject: "probe-value"})
	data, err := c.Encode(ctx, "probe", map[string]any{"a": int64(5), "b": "y"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := hambareg.NewDecoder(client).Decode(ctx, data, &out); err != nil || out["a"] != int64(5) || out["b"] != "y" {
		t.Fatalf("client decode: %v %v", out, err)
	}
	if vs, err := client.DeleteSubject(ctx, "probe-value"); err != nil || len(vs) != 2 {
		t.Fatalf("delete: %v %v", vs, err)
	}
}
