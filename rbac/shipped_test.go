package rbac

import "testing"

// The shipped model must be decided by the compiled engine: Casbin keeps
// the model text escaped (r.sub as r_sub), and the check that recognises it
// must see through that.
func TestShippedModelIsCompiled(t *testing.T) {
	t.Parallel()
	m, err := LoadModel("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Compiled() {
		t.Fatal("model.conf is not recognised as the shipped model: decisions fall back to Casbin's Enforce")
	}
}
