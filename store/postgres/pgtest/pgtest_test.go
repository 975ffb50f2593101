package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// query returns the one integer sql answers in the database at url.
func query(t *testing.T, url, sql string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

func TestDatabasesAreSeparate(t *testing.T) {
	a, b := NewDatabase(t), NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share the URL %s", a)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if n, err := query(t, a, "SELECT x FROM t"); err != nil || n != 7 {
		t.Fatalf("read back = %d, %v; want 7", n, err)
	}
	if _, err := query(t, b, "SELECT x FROM t"); err == nil {
		t.Fatal("the table of one database is visible in another")
	}
}

func TestStopAndRestart(t *testing.T) {
	s := Shared(t)
	url := s.NewDatabase(t)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, url, "SELECT 1"); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if n, err := query(t, url, "SELECT 1"); err != nil || n != 1 {
		t.Fatalf("after restart: %d, %v; want 1", n, err)
	}
}
