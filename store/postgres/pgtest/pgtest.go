// Package pgtest starts a real PostgreSQL server for tests: the system's
// own binaries (Debian's postgresql package), a cluster in a temporary
// folder, listening on a free loopback port, started once per test binary
// and stopped when its tests end. Each test gets a database of its own on
// that server, so tests run in parallel without a server each.
//
// A package that uses it runs its tests through Main:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// When PostgreSQL is not installed, tests that ask for it are skipped with
// a message saying how to install it; with CI=true in the environment they
// fail instead, so a CI machine that lacks it cannot pass by skipping.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 60 * time.Second

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	dbCounter  atomic.Int64
)

// Main runs the tests of m and then stops the shared server, if one of
// them started it. Its result is the exit code for os.Exit.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// Shared returns the server of this test binary, starting it on first use.
// It skips t (fails it under CI=true) when PostgreSQL is not installed,
// and fails t when the server cannot start.
func Shared(t testing.TB) *Server {
	t.Helper()
	bin := Binaries(t)
	sharedOnce.Do(func() { shared, sharedErr = Start(bin) })
	if sharedErr != nil {
		t.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// New starts a server for t alone, removed when t ends: for a test that
// stops and restarts PostgreSQL, which would break the tests sharing the
// binary's server. (It takes initdb's second or two.)
func New(t testing.TB) *Server {
	t.Helper()
	bin := Binaries(t)
	s, err := Start(bin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// Binaries returns the folder of FindBinaries; when PostgreSQL is not
// installed it skips t, or fails it when CI=true: a CI run must not pass by
// skipping what it was meant to test.
func Binaries(t testing.TB) string {
	t.Helper()
	bin, err := FindBinaries()
	if err != nil {
		msg := fmt.Sprintf("%v (apt-get install postgresql; .ci/run installs it)", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// NewDatabase creates an empty database for t on the shared server and
// returns its URL; the database is dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return Shared(t).NewDatabase(t)
}

// FindBinaries returns the folder holding initdb and postgres: the newest
// of Debian's /usr/lib/postgresql/*/bin, else the folder of initdb on PATH.
func FindBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if isFile(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL is not installed: no initdb and postgres binaries found")
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Server is a PostgreSQL cluster in a temporary folder, served by one
// postgres process on a loopback port. It accepts any local connection
// as the superuser "postgres" without a password (trust): it exists for
// the tests of one process only.
type Server struct {
	bin  string
	dir  string // the temporary folder: data/, the socket, the log
	port int
	cred *syscall.Credential // the postgres user's, when run by root

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	frozen bool
}

// Start creates a cluster in a new temporary folder with the binaries of
// bin and starts its server. initdb refuses to run as root, so a root
// process runs the server as the system's postgres user.
func Start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	if err := s.init(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
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

// init runs initdb in s.dir/data, as the postgres user when root.
func (s *Server) init() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, and initdb refuses root: %w (the postgresql package creates the postgres user)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return err
		}
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// freePort returns a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Restart starts the server process again after Stop (Start does the
// first start), on the same port with the same data, and waits until it
// accepts connections.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: the server is running")
	}
	logFile, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// Durability is traded for speed: a test cluster never outlives a crash.
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(),
		"-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(done); err != nil {
		s.stopLocked()
		return fmt.Errorf("postgres did not start: %w\n%s", err, s.logTail())
	}
	return nil
}

// waitReady polls until the server answers a query, it exits, or
// startTimeout passes.
func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("the server exited")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", startTimeout, err)
		}
	}
}

// logTail is the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// Stop shuts the server down (a fast shutdown: open connections are
// ended) and waits for it to exit; Restart brings it back.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	if s.frozen {
		_ = s.signalLocked(syscall.SIGCONT) // a frozen server must hear the shutdown
		s.frozen = false
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("pgtest: postgres did not stop within 30s and was killed")
	}
}

// Freeze suspends the server and all its backends (SIGSTOP): connections
// stay open and nothing answers, as when a network cuts the server off.
// Thaw resumes it.
func (s *Server) Freeze() error { return s.signalGroup(syscall.SIGSTOP, true) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() error { return s.signalGroup(syscall.SIGCONT, false) }

func (s *Server) signalGroup(sig syscall.Signal, frozen bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("pgtest: the server is not running")
	}
	s.frozen = frozen
	return s.signalLocked(sig)
}

// signalLocked sends sig to the postmaster and to every process it started
// (each backend makes itself a process group leader, so a group signal
// would miss them), found in /proc: Freeze works on Linux. s.mu is held.
func (s *Server) signalLocked(sig syscall.Signal) error {
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return errors.New("pgtest: no /proc to find the server's processes in")
	}
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // the process ended
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			_ = syscall.Kill(child, sig)
		}
	}
	return nil
}

// Close stops the server and removes its folder.
func (s *Server) Close() error {
	err := s.Stop()
	if rmErr := os.RemoveAll(s.dir); err == nil {
		err = rmErr
	}
	return err
}

// Port is the loopback port the server listens on.
func (s *Server) Port() int { return s.port }

// URL is the connection URL of database on the server.
func (s *Server) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec runs sql as the superuser in the database "postgres" (to end
// other sessions, for one).
func (s *Server) Exec(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// NewDatabase creates an empty database for t and returns its URL; it is
// dropped, with any connection still open to it, when t ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), dbCounter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A test that stopped the server leaves it stopped for no other
		// test: bring it back before dropping.
		s.mu.Lock()
		stopped := s.cmd == nil
		s.mu.Unlock()
		if stopped {
			if err := s.Restart(); err != nil {
				t.Errorf("pgtest: restart the server: %v", err)
				return
			}
		}
		if err := s.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.URL(name)
}
