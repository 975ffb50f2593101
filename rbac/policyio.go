package rbac

import (
	"bufio"
	"errors"
	"io"
	"strconv"

	"github.com/gatehouse/gatehouse/store"
)

// ImportResult is what an import changed.
type ImportResult struct {
	Added   []store.Rule
	Removed []store.Rule
}

// Import adds rules to the policy in tx, skipping the ones it holds
// already; with replace it also removes every rule that is not among them.
// Rules that stay keep their ids, so ids are stable across an export and
// re-import. Run it inside Mutate: the whole import commits or none of it,
// and the last-admin guard applies to it as to any change.
func (a *Authorizer) Import(tx store.Tx, rules []CSVRule, replace bool) (ImportResult, error) {
	var res ImportResult
	for _, r := range rules {
		if err := CheckUsers(tx, r.Values); err != nil {
			return res, lineError(r.Line, err)
		}
	}
	if replace {
		want := make(map[string]bool, len(rules))
		for _, r := range rules {
			want[store.RuleKey(r.Type, r.Values)] = true
		}
		var drop []uint64
		err := tx.Rules().ForEach(func(r store.Rule) error {
			if !want[store.RuleKey(r.Type, r.Values)] {
				drop = append(drop, r.ID)
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		for _, id := range drop {
			r, err := tx.Rules().Remove(id)
			if err != nil {
				return res, err
			}
			res.Removed = append(res.Removed, r)
		}
	}
	for _, r := range rules {
		if _, err := tx.Rules().Find(r.Type, r.Values); err == nil {
			continue // held already, or twice in the file
		}
		added, err := a.AddRule(tx, r.Type, r.Values)
		if err != nil {
			return res, err
		}
		res.Added = append(res.Added, added)
	}
	return res, nil
}

// CheckUsers refuses rule values naming a user (user:<id>) who does not
// exist in tx: such a rule would grant its role or permission to whoever
// is given that id next, like the next person to sign up.
func CheckUsers(tx store.Tx, values []string) error {
	for _, v := range values {
		id, ok := UserID(v)
		if !ok {
			continue
		}
		if _, err := tx.Users().Get(id); errors.Is(err, store.ErrNotFound) {
			return &ValidationError{Details: map[string]string{"rule": v + " is not a user: a rule may name only a user who exists"}}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// lineError places a rule's validation problem on its line of an import,
// under the field the import's CSV arrives in.
func lineError(line int, err error) error {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	return &ValidationError{Details: map[string]string{"csv": "line " + strconv.Itoa(line) + ": " + ve.Details["rule"]}}
}

// WriteCSV writes every rule of the policy in tx to w in the format of
// policy.csv (see FormatCSVLine), one line each, in the order the rules
// were added. ParseCSV reads it back to the same rules, so an export
// imported with replace changes nothing and exports again byte for byte.
func WriteCSV(w io.Writer, tx store.Tx) error {
	bw := bufio.NewWriter(w)
	err := tx.Rules().ForEach(func(r store.Rule) error {
		_, err := bw.WriteString(FormatCSVLine(r.Type, r.Values) + "\n")
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
