package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// TestBackupWhileWriting takes a backup through the API while a writer
// commits notes as fast as it can. The copy must pass bbolt's consistency
// check and hold every note committed before the backup began, as an
// unbroken run of ids: a snapshot, never a mix of two states.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a, admin := ts.admin, ts.admin.Token

	// Some bulk first, so the copy takes a while.
	body := strings.Repeat("x", 2000)
	err := ts.db.Update(context.Background(), func(tx store.Tx) error {
		for range 2000 {
			if err := Notes.Create(tx, &Note{Owned: store.Owned{OwnerID: a.ID}, Title: "bulk", Body: body}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var committed atomic.Uint64
	committed.Store(2000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := Note{Owned: store.Owned{OwnerID: a.ID}, Title: "live", Body: body}
			if err := ts.db.Update(context.Background(), func(tx store.Tx) error { return Notes.Create(tx, &n) }); err != nil {
				t.Error(err)
				return
			}
			committed.Store(n.ID)
		}
	}()

	before := committed.Load()
	req, _ := http.NewRequest("GET", ts.http.URL+"/api/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	resp.Body.Close()
	f.Close()
	after := committed.Load()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if cl, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); cl != n {
		t.Errorf("Content-Length %d, body %d bytes", cl, n)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="gatehouse-`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	t.Logf("backup of %d bytes; %d notes committed during it", n, after-before)

	copyDB, err := bolt.Open(path, bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	if err := copyDB.Check(); err != nil { // bbolt's own check of every page
		t.Fatal(err)
	}
	var last uint64
	err = copyDB.View(context.Background(), func(tx store.Tx) error {
		p := store.Page{Limit: 1000}
		for {
			notes, next, err := Notes.List(tx, 0, p)
			if err != nil {
				return err
			}
			for _, note := range notes {
				if note.ID != last+1 {
					t.Fatalf("note %d follows note %d: the copy is not a snapshot", note.ID, last)
				}
				last = note.ID
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
		if _, err := tx.Users().ByEmail("admin@example.com"); err != nil {
			t.Errorf("admin missing from the copy: %v", err)
		}
		if any, err := tx.Rules().Any(); err != nil || !any {
			t.Errorf("policy missing from the copy: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if last < before || last > after {
		t.Errorf("the copy holds notes 1..%d, want at least %d and at most %d", last, before, after)
	}

	// Taking a copy of everyone's secrets is on the record.
	var audit api.List[api.AuditEntry]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/audit?limit=1", nil, 200, &audit)
	if len(audit.Items) != 1 || audit.Items[0].Action != "backup.download" || audit.Items[0].Actor != "admin@example.com" {
		t.Errorf("last audit record %+v, want the backup", audit.Items)
	}
}

// TestRouteInventory lists the server's own routes with their rules.
func TestRouteInventory(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	var inv api.RouteInventory
	ts.mustCallJSON(t, admin, "GET", "/api/admin/routes", nil, 200, &inv)
	if len(inv.Routes) != len(ts.routes) || len(inv.Unguarded) != 0 {
		t.Fatalf("%d routes (want %d), unguarded %v", len(inv.Routes), len(ts.routes), inv.Unguarded)
	}
	found := false
	for _, r := range inv.Routes {
		if r.Method == "GET" && r.Path == "/api/admin/audit" {
			found = true
			want := "p, role:admin, /api/admin/audit, GET, *|p, group:auditors, /api/admin/audit, GET, *"
			if got := strings.Join(r.Rules, "|"); got != want || r.Public {
				t.Errorf("GET /api/admin/audit: rules %q public %v, want %q", got, r.Public, want)
			}
		}
		if r.Path == "/api/health" && !r.Public {
			t.Error("health is not public")
		}
	}
	if !found {
		t.Error("GET /api/admin/audit is not in the inventory")
	}
}
