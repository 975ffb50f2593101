package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// TestAnswerMemo: an answer is computed once per stored document, and any
// change to the document (its bytes or its meta data) is computed afresh;
// what the caller does with its copy afterwards changes nothing kept; the
// memo stays within its bound.
func TestAnswerMemo(t *testing.T) {
	m := newAnswerMemo()
	calls := 0
	view := func(d store.Doc) (any, error) {
		calls++
		return map[string]any{"id": d.ID, "data": string(d.Data), "updated": d.UpdatedAt}, nil
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	doc := store.Doc{Owned: store.Owned{ID: 7, OwnerID: 3, CreatedAt: at, UpdatedAt: at}, Data: json.RawMessage(`{"title":"one"}`)}
	first, err := m.answer(doc, view)
	if err != nil || calls != 1 || !bytes.HasSuffix(first, []byte("}\n")) {
		t.Fatalf("first answer %q, %v after %d calls", first, err, calls)
	}
	doc.Data[10] = 'X' // the caller's copy changes; what is kept does not
	doc.Data = json.RawMessage(`{"title":"one"}`)
	again, _ := m.answer(doc, view)
	if calls != 1 || !bytes.Equal(again, first) {
		t.Fatalf("the same document again: %q after %d calls", again, calls)
	}
	changes := []func(d *store.Doc){
		func(d *store.Doc) { d.Data = json.RawMessage(`{"title":"two"}`) },
		func(d *store.Doc) { d.UpdatedAt = d.UpdatedAt.Add(time.Microsecond) },
		func(d *store.Doc) { d.OwnerID++ },
		func(d *store.Doc) { d.ID++ },
		func(d *store.Doc) { d.UpdatedAt = d.UpdatedAt.In(time.FixedZone("X", 3600)) },
	}
	for i, change := range changes {
		d := doc
		d.Data = bytes.Clone(doc.Data)
		change(&d)
		want, _ := json.Marshal(map[string]any{"id": d.ID, "data": string(d.Data), "updated": d.UpdatedAt})
		got, err := m.answer(d, view)
		if err != nil || calls != 2+i || !bytes.Equal(got, append(want, '\n')) {
			t.Errorf("change %d: %q, %v after %d calls; want %q computed", i, got, err, calls, want)
		}
	}
	big := bytes.Repeat([]byte("x"), 64<<10)
	for i := range 200 {
		d := doc
		d.ID = uint64(1000 + i)
		d.Data = json.RawMessage(fmt.Sprintf(`{"b":%q}`, big))
		if _, err := m.answer(d, view); err != nil {
			t.Fatal(err)
		}
		if m.size > answerMemoBytes {
			t.Fatalf("kept %d bytes, over the bound %d", m.size, answerMemoBytes)
		}
	}
}

// TestNoteAnswerAsEncoded: the kept answer of GET is byte for byte what
// Echo's encoder writes for the same note (a query skips the memo), and
// follows an edit.
func TestNoteAnswerAsEncoded(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	u := ts.mustQuickUser(t, "memo@example.com", []string{"user"}, nil)
	var n api.Note
	ts.mustCallJSON(t, u.Token, "POST", "/api/notes", api.NoteInput{Title: ptr("<one> & \u2028"), Body: ptr("b\"ody")}, 201, &n)
	path := "/api/notes/" + n.ID
	for _, title := range []string{"", "two"} {
		if title != "" {
			ts.mustCallJSON(t, u.Token, "PATCH", path, api.NoteInput{Title: ptr(title)}, 200, nil)
		}
		kept := ts.mustCall(t, u.Token, "GET", path, nil, 200, "")
		kept2 := ts.mustCall(t, u.Token, "GET", path, nil, 200, "")
		encoded := ts.mustCall(t, u.Token, "GET", path+"?fresh=1", nil, 200, "")
		if !bytes.Equal(kept, encoded) || !bytes.Equal(kept2, encoded) {
			t.Errorf("kept answers\n%q\n%q\nencoded\n%q", kept, kept2, encoded)
		}
		var got api.Note
		mustUnmarshal(t, kept, &got)
		if title != "" && got.Title != title {
			t.Errorf("after the edit: %+v", got)
		}
	}
}
