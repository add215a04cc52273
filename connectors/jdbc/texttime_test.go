package jdbc

import (
	"testing"
	"time"

	"github.com/braidhq/braid/schema"
)

// A timestamp that went through JSON arrives as RFC 3339 text; the MySQL
// binder turns it back into a time, and leaves other strings alone.
func TestTextTimeForTimestampFields(t *testing.T) {
	ts := &schema.Field{Name: "ts", Type: schema.Timestamp}
	got, err := bindMySQL("2025-01-01T00:00:01.5+02:00", ts)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 12, 31, 22, 0, 1, 500_000_000, time.UTC)
	if tm, ok := got.(time.Time); !ok || !tm.Equal(want) {
		t.Fatalf("bound %v (%T), want %v", got, got, want)
	}
	name := &schema.Field{Name: "name", Type: schema.String}
	if got, _ := bindMySQL("2025-01-01T00:00:01Z", name); got != "2025-01-01T00:00:01Z" {
		t.Fatalf("a string field was changed: %v", got)
	}
	if got, _ := bindMySQL("not a time", ts); got != "not a time" {
		t.Fatalf("unparsable text was changed: %v", got)
	}
}
