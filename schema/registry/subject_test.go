package registry

import (
	"net/http"
	"strings"
	"testing"
)

func TestValidateSubject(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"orders-value", "com.example.User", ":.ctx:orders-value", "a/b", "t_1-key", "ünïcödé", strings.Repeat("s", MaxSubjectLen)} {
		if err := ValidateSubject(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "a b", "a\tb", "a\nb", "a\x00b", "a\u00a0b", "\xff", strings.Repeat("s", MaxSubjectLen+1)} {
		err := ValidateSubject(s)
		wantCode(t, err, CodeInvalidSubject)
		if len(err.Error()) > 200 {
			t.Errorf("message too long: %d bytes", len(err.Error()))
		}
	}
}

// TestHTTPLongSubject: a 5,000-byte subject once became a KV key longer than
// the NATS control line and cut the registry off from NATS. Every route that
// takes a subject refuses it with 42208, and the registry keeps working.
func TestHTTPLongSubject(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	long := strings.Repeat("x", 5000)
	schema := map[string]any{"schema": userV1}
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/subjects/" + long + "/versions", schema},
		{"GET", "/subjects/" + long + "/versions", nil},
		{"GET", "/subjects/" + long + "/versions/latest", nil},
		{"POST", "/subjects/" + long, schema},
		{"DELETE", "/subjects/" + long, nil},
		{"POST", "/compatibility/subjects/" + long + "/versions", schema},
		{"PUT", "/config/" + long, map[string]string{"compatibility": "FULL"}},
		{"GET", "/config/" + long, nil},
		{"DELETE", "/config/" + long, nil},
		{"PUT", "/mode/" + long, map[string]string{"mode": "READONLY"}},
		{"GET", "/mode/" + long, nil},
		{"POST", "/subjects/a%20b/versions", schema},
	} {
		status, body := c.do(r.method, r.path, r.body)
		if status != http.StatusUnprocessableEntity || !strings.Contains(body, `"error_code":42208`) {
			t.Errorf("%s %.40s…: %d %s", r.method, r.path, status, body)
		}
	}
	c.want("POST", "/subjects/orders-value/versions", schema, 200, `{"id":1}`)
	c.want("POST", "/subjects/:.ctx:a%2Fb/versions", schema, 200, `{"id":1}`)
}
