//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
	"golang.org/x/sys/unix"
)

// setFileSizeLimit sets the file size limit (RLIMIT_FSIZE) of a running
// process: writes past size fail with EFBIG, as on a full disk, with no
// privileges, mount or loop device needed. The hard limit stays open, so
// the limit can be lifted again. Go ignores the SIGXFSZ that comes with
// the failure unless a program asks for it.
func setFileSizeLimit(t *testing.T, pid int, size uint64) {
	t.Helper()
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: size, Max: unix.RLIM_INFINITY}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
}

// apiAnswer is the JSON error body of an answer.
type apiAnswer struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// TestDiskFullAnswers503AndRecovers runs the real binary, lets it fill its
// database file up to a file size limit set on the running process, and
// checks what happens when a write cannot be stored: a 503 unavailable in
// JSON that shows nothing of the cause, one error log line with the cause
// and the request id, no panic; reads keep working; and once the limit is
// lifted the same process writes again, without a restart. After a clean
// stop the file passes the consistency check and holds every acknowledged
// note.
func TestDiskFullAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.db")
	p := startGatehouse(t, serveEnv(t, path))
	client := httpClient(t)
	ctx := context.Background()
	token := mustLogin(t, p.url)

	var acked []string
	createNote := func(i int) callResult {
		t.Helper()
		r, err := call(ctx, client, http.MethodPost, p.url+"/api/notes", token,
			map[string]string{"title": fmt.Sprintf("note %d", i), "body": strings.Repeat("x", 40000)})
		if err != nil {
			t.Fatalf("note %d: %v", i, err)
		}
		if r.status == http.StatusCreated {
			var n struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r.body, &n); err != nil {
				t.Fatal(err)
			}
			acked = append(acked, n.ID)
		}
		return r
	}
	if r := createNote(0); r.status != http.StatusCreated {
		t.Fatalf("first note: %d %s", r.status, r.body)
	}

	// The file may not grow past its size now: the next writes that need
	// more pages fail.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	setFileSizeLimit(t, p.cmd.Process.Pid, uint64(fi.Size()))
	var refused callResult
	for i := 1; ; i++ {
		if i > 200 {
			t.Fatalf("200 notes of 40 kB fit in a file limited to %d bytes", fi.Size())
		}
		if r := createNote(i); r.status != http.StatusCreated {
			refused = r
			break
		}
	}
	var e apiAnswer
	if err := json.Unmarshal(refused.body, &e); err != nil {
		t.Fatalf("refused write: %d %q is not JSON", refused.status, refused.body)
	}
	if refused.status != http.StatusServiceUnavailable || e.Error != "unavailable" || e.RequestID == "" {
		t.Fatalf("refused write: %d %s", refused.status, refused.body)
	}
	for _, leak := range []string{"file too large", "bbolt", "store:", "truncate", "EFBIG", dir} {
		if strings.Contains(string(refused.body), leak) {
			t.Errorf("the answer shows %q: %s", leak, refused.body)
		}
	}
	// One log line says what happened, with the request id to find it.
	deadline := time.Now().Add(5 * time.Second)
	var lines []string
	for len(lines) == 0 && time.Now().Before(deadline) {
		lines = nil
		for line := range strings.Lines(p.stderr.String()) {
			if strings.Contains(line, e.RequestID) {
				lines = append(lines, line)
			}
		}
		if len(lines) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"level":"ERROR"`) || !strings.Contains(lines[0], "file too large") {
		t.Errorf("log lines of the refused request:\n%s", strings.Join(lines, ""))
	}
	t.Logf("refused after %d notes at %d bytes; logged: %s", len(acked), fi.Size(), strings.TrimSpace(strings.Join(lines, "")))

	// Reads still work, writes are still refused the same way.
	for _, path := range []string{"/api/notes/" + acked[0], "/api/notes", "/api/auth/me", "/api/health"} {
		r, err := call(ctx, client, http.MethodGet, p.url+path, token, nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("GET %s while the disk is full: %d %s %v", path, r.status, r.body, err)
		}
	}
	if r := createNote(-1); r.status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
		t.Fatalf("a second write while full: %d %s", r.status, r.body)
	}

	// Space returns: the same process stores writes again.
	setFileSizeLimit(t, p.cmd.Process.Pid, unix.RLIM_INFINITY)
	for i := 1000; i < 1003; i++ {
		if r := createNote(i); r.status != http.StatusCreated {
			t.Fatalf("write after the limit was lifted: %d %s", r.status, r.body)
		}
	}
	if out := p.stderr.String(); strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Fatalf("the server panicked:\n%s", out)
	}
	if code, _ := p.terminate(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.stderr.String())
	}

	db, err := bolt.Open(path, bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatalf("consistency check: %v", err)
	}
	err = db.View(ctx, func(tx store.Tx) error {
		for _, id := range acked {
			n, err := store.ParseID(id)
			if err != nil {
				return err
			}
			if _, err := app.Notes.Get(tx, n); err != nil {
				t.Errorf("acknowledged note %s: %v", id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
