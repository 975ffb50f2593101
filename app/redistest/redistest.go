// Package redistest starts a real Redis server for tests: the system's
// redis-server (Debian's redis-server package) as a process on a free
// loopback port, without persistence, started once per test binary and
// stopped when its tests end (Shared; tests keep apart by key prefix,
// NewPrefix), or one for a test alone (New).
//
// A package that uses it runs its tests through Main:
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
//
// When redis-server is not installed, tests that ask for it are skipped
// with a message saying how to install it; with CI=true in the
// environment they fail instead.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long the server may take to answer PING.
const startTimeout = 30 * time.Second

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	prefixes   atomic.Int64
)

// Main runs the tests of m and then stops the shared server, if one of
// them started it. Its result is the exit code for os.Exit.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "redistest:", err)
		}
	}
	return code
}

// Shared returns the server of this test binary, starting it on first use.
// It skips t (fails it under CI=true) when redis-server is not installed.
func Shared(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	sharedOnce.Do(func() { shared, sharedErr = Start(bin) })
	if sharedErr != nil {
		t.Fatalf("redistest: %v", sharedErr)
	}
	return shared
}

// New starts a server for t alone, stopped when t ends: for a test that
// stops Redis, or that needs keys no other test writes. (A redis-server
// starts in milliseconds.)
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start(Binary(t))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("redistest: %v", err)
		}
	})
	return s
}

// Binary is the path of redis-server; without one it skips t, or fails it
// under CI=true.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := FindBinary()
	if err != nil {
		msg := err.Error() + " (apt-get install redis-server; .ci/run installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// FindBinary returns the path of redis-server on PATH, for a program that
// starts its own server (Start) outside of tests.
func FindBinary() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server is not installed")
	}
	return bin, nil
}

// NewPrefix returns a key prefix no other test of this binary uses.
func NewPrefix() string {
	return fmt.Sprintf("test%d:%d:", os.Getpid(), prefixes.Add(1))
}

// Server is one redis-server process on a loopback port, keeping nothing
// on disk.
type Server struct {
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts redis-server (the binary bin) on a free loopback port.
func Start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "gatehouse-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	// The port is free when picked, but another process may take it before
	// the server binds it: try a few.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.Restart(); err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Restart starts the server again after Stop (Start does the first
// start), on the same port, and waits until it answers PING. Its data
// does not survive a stop.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redistest: the server is running")
	}
	logFile, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			err = errors.New("the server exited")
		case <-time.After(20 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
		}
		s.stopLocked()
		b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		return fmt.Errorf("redis-server did not start: %w\n%s", err, b)
	}
}

// ping sends PING in Redis's protocol and expects PONG.
func (s *Server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Stop ends the server and waits for it to exit; Restart brings it back,
// empty.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("redistest: redis-server did not stop within 10s and was killed")
	}
}

// Close stops the server and removes its folder.
func (s *Server) Close() error {
	err := s.Stop()
	if rmErr := os.RemoveAll(s.dir); err == nil {
		err = rmErr
	}
	return err
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }
