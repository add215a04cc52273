package socket

import (
	"testing"
	"time"

	"github.com/braidhq/braid/schema/convert"
)

// The value written straight from a parsed message is the json converter's
// encoding of fieldsOf, byte for byte, and decodes back to those fields.
func TestSyslogJSONMatchesFields(t *testing.T) {
	t.Parallel()
	msgs := []string{
		msg5424, msg3164,
		`<14>1 - - - - - -`,
		`<14>1 2026-12-03T06:00:01.5+02:00 h "app" 12 ID [a@1 k="v\"q\\" z="é\]"][b@2] text with "quotes", tabs	and é`,
		`<14>1 2026-12-03T06:00:01Z h a p m [x@1 k=""] `,
		`<13>Dec  3 06:00:01 host app[42]: hi <there> & "you"`,
		`<13>Dec  3 06:00:01 10.0.0.1 : no app`,
	}
	for _, text := range msgs {
		for _, s := range []*settings{{syslogFormat: syslogAuto, tz: time.UTC}, {syslogFormat: syslogAuto, tz: time.FixedZone("X", 3600)}} {
			m, err := s.newParser().Parse([]byte(text))
			if err != nil || m == nil {
				t.Fatalf("%q: %v", text, err)
			}
			want := fieldsOf(m)
			enc, err := convert.NewJSON(false).Encode(t.Context(), "", want, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := appendSyslogJSON(nil, m)
			if string(got) != string(enc) {
				t.Errorf("%q:\n got %s\nwant %s", text, got, enc)
			}
			back, _, err := decodeSyslogJSON(got)
			if err != nil {
				t.Fatalf("%q: decode: %v", text, err)
			}
			checkFields(t, back, want)
		}
	}
}
