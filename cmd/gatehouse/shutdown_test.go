package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// startSlowNoteCreate sends a note create and returns once its handler is
// reading the body, with half of the body sent: the request is in flight
// until finish is called. The request asks for 100-continue, which the
// server sends when the handler first reads the body: proof that the
// server holds the request (a connection still in the accept queue at
// shutdown would just be reset).
func startSlowNoteCreate(t *testing.T, base, token, title string) (conn net.Conn, finish func() *http.Response) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err = net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := fmt.Sprintf(`{"title": %q, "body": "sent in two halves"}`, title)
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /api/notes HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
		u.Host, token, len(body))
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	status, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
		t.Fatalf("waiting for 100 Continue: %q, %v", status, err)
	}
	if blank, err := r.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", blank, err)
	}
	if _, err := io.WriteString(conn, body[:half]); err != nil {
		t.Fatal(err)
	}
	return conn, func() *http.Response {
		t.Helper()
		if _, err := io.WriteString(conn, body[half:]); err != nil {
			t.Fatalf("send the rest of the body: %v", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("read the answer of the in-flight request: %v", err)
		}
		return resp
	}
}

// waitRefused polls until a new connection to base is refused.
func waitRefused(t *testing.T, base string, within time.Duration) {
	t.Helper()
	u, _ := url.Parse(base)
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("new connections still accepted %s after SIGTERM", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGracefulShutdown sends SIGTERM to the real binary while a request is
// in flight and a keep-alive connection idles: new connections are
// refused at once, the idle one is closed, the in-flight request finishes
// with its answer and its write stored, the process exits 0, and the
// database was closed cleanly.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "gatehouse.db")
	p := startGatehouse(t, serveEnv(t, dbPath, "GATEHOUSE_SHUTDOWN_TIMEOUT=20s"))
	token := mustLogin(t, p.url)

	// A keep-alive connection, idle after one request.
	u, _ := url.Parse(p.url)
	idle, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /api/health HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host)
	idleReader := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleReader, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("health on the keep-alive connection: %v", err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	_, finish := startSlowNoteCreate(t, p.url, token, "in flight at SIGTERM")

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, `"msg":"shutting down"`, 10*time.Second)
	waitRefused(t, p.url, 5*time.Second)

	// The idle connection is closed by the server.
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleReader.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle keep-alive connection after SIGTERM: read %v, want EOF", err)
	}

	resp := finish()
	defer resp.Body.Close()
	var note struct{ ID, Title string }
	if err := json.NewDecoder(resp.Body).Decode(&note); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request: %d, %v", resp.StatusCode, err)
	}
	if !resp.Close {
		t.Errorf("the answer during shutdown does not close the connection")
	}

	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20s after SIGTERM; stderr:\n%s", p.stderr.String())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
	t.Logf("exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped log line:\n%s", p.stderr.String())
	}
	mustHaveNote(t, dbPath, note.ID, "in flight at SIGTERM")
}

// TestShutdownDeadline sends SIGTERM while a request hangs (its body never
// comes): past GATEHOUSE_SHUTDOWN_TIMEOUT the server cuts it, says so in
// the log and on stderr, and exits 1; the database is intact.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "gatehouse.db")
	p := startGatehouse(t, serveEnv(t, dbPath, "GATEHOUSE_SHUTDOWN_TIMEOUT=300ms"))
	token := mustLogin(t, p.url)
	conn, _ := startSlowNoteCreate(t, p.url, token, "never finished")

	code, took := p.terminate(15 * time.Second)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (requests were cut)", code)
	}
	if took > 5*time.Second {
		t.Errorf("exit took %s with a 300ms deadline", took)
	}
	stderr := p.stderr.String()
	for _, want := range []string{"shutdown deadline passed", "gatehouse: app: shutdown after 300ms: requests still running at the shutdown deadline were cut off"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	// The cut request's connection is closed.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("the cut request's connection is still open")
	}
	db, err := bolt.Open(dbPath, bolt.Options{})
	if err != nil {
		t.Fatalf("database after a cut shutdown: %v", err)
	}
	db.Close()
}

// waitLog polls the process's stderr for a log line holding s.
func waitLog(t *testing.T, p *gatehouseProcess, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %s within %s:\n%s", s, within, p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustHaveNote opens the database of a stopped server (it would be in use
// were it not closed) and checks that the note is there.
func mustHaveNote(t *testing.T, dbPath, id, title string) {
	t.Helper()
	db, err := bolt.Open(dbPath, bolt.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("open the database after exit: %v", err)
	}
	defer db.Close()
	nid, err := store.ParseID(id)
	if err != nil {
		t.Fatalf("note id %q: %v", id, err)
	}
	err = db.View(context.Background(), func(tx store.Tx) error {
		n, err := app.Notes.Get(tx, nid)
		if err == nil && n.Title != title {
			err = fmt.Errorf("title %q, want %q", n.Title, title)
		}
		return err
	})
	if err != nil {
		t.Fatalf("note %s after shutdown: %v", id, err)
	}
}
