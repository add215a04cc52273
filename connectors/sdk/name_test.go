package sdk

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"a", "orders", "shop-db_2", strings.Repeat("n", MaxNameLen)} {
		if !ValidName(s) || CheckName("name", s) != nil {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "a.b", "a b", "a/b", "ä", "a*", "a>", strings.Repeat("n", MaxNameLen+1), strings.Repeat("n", 4000)} {
		if ValidName(s) {
			t.Errorf("%q accepted", s)
		}
		err := CheckName("connector.name", s)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "connector.name: ") {
			t.Errorf("%q: %v", s, err)
		}
		if len(err.Error()) > 200 {
			t.Errorf("message repeats the whole name: %d bytes", len(err.Error()))
		}
	}
	if !strings.Contains(NameRule, strconv.Itoa(MaxNameLen)) {
		t.Errorf("NameRule %q does not say %d", NameRule, MaxNameLen)
	}
}
