package bolt

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestConformance runs the storage contract's suite on real bbolt files,
// each checked for consistency when its test ends.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return checkedOnClose{db, t}
	})
}

// checkedOnClose runs bbolt's page check before the file closes.
type checkedOnClose struct {
	*DB
	t *testing.T
}

func (c checkedOnClose) Close() error {
	if err := c.Check(); err != nil {
		c.t.Errorf("consistency: %v", err)
	}
	return c.DB.Close()
}
