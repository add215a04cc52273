package pgcdc

import (
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	for _, c := range []struct {
		in   string
		zone bool
		want time.Time
	}{
		{"2024-01-02 03:04:05+00", true, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2024-01-02 03:04:05.5+05:30", true, time.Date(2024, 1, 1, 21, 34, 5, 5e8, time.UTC)},
		{"2024-01-02 03:04:05.123456-01:00:30", true, time.Date(2024, 1, 2, 4, 4, 35, 123456000, time.UTC)},
		{"1999-12-31 23:59:59.999999", false, time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
	} {
		got, err := parseTimestamp(c.in, c.zone)
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseTimestamp("infinity", true); err == nil {
		t.Error("infinity accepted")
	}
}

// FuzzDecodeText checks no text form makes the decoders panic.
func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"t", "-32768", "1.5e10", "NaN", `\xdeadbeef`, `{"a":1}`, "2024-02-29", "2024-01-02 03:04:05+00", "0044-03-15 BC"} {
		f.Add(s)
	}
	oids := []uint32{oidBool, oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8, oidNumeric, oidDate, oidTimestamp, oidTimestampTZ, oidJSON, oidJSONB, oidBytea, oidText}
	f.Fuzz(func(t *testing.T, s string) {
		for _, oid := range oids {
			c := column{name: "c", oid: oid, field: fieldFor("c", oid, -1, true)}
			_, _ = decodeText(&c, s)
		}
	})
}

func TestParseDateBC(t *testing.T) {
	got, err := parseDate("0044-03-15 BC")
	if err != nil || got.Year() != -43 {
		t.Fatalf("got %v (year %d), %v; want year -43 (44 BC)", got, got.Year(), err)
	}
}
