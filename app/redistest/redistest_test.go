package redistest

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestStopAndRestart(t *testing.T) {
	s := Shared(t)
	if err := s.ping(); err != nil {
		t.Fatalf("a started server does not answer: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.ping(); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.ping(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestPrefixesDiffer(t *testing.T) {
	if a, b := NewPrefix(), NewPrefix(); a == b {
		t.Fatalf("two prefixes are both %q", a)
	}
}
