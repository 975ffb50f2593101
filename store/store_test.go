package store

import (
	"errors"
	"testing"
)

func TestParseID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "0", "01", "-1", "1.0", "18446744073709551616", "99999999999999999999999", "abc", " 1"} {
		if _, err := ParseID(s); !errors.Is(err, ErrNotFound) {
			t.Errorf("ParseID(%q): %v, want ErrNotFound", s, err)
		}
	}
	if id, err := ParseID("18446744073709551615"); err != nil || id != 1<<64-1 {
		t.Errorf("max id: %d %v", id, err)
	}
}
