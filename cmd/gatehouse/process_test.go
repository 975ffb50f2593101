package main

// Helpers that build the real gatehouse binary and run it as a separate
// process on a loopback port, for the tests that need a real process: crash
// safety (SIGKILL), graceful shutdown (SIGTERM), start-up refusals (exit
// code and message).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
)

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
	buildDir  string
)

// TestMain removes the built binary after the tests, and stops the
// PostgreSQL server if a test started it.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// mustBuildGatehouse builds ./cmd/gatehouse once per test run (with the
// race detector when the tests have it) and returns the binary's path.
func mustBuildGatehouse(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "gatehouse-bin-")
		if buildErr != nil {
			return
		}
		builtPath = filepath.Join(buildDir, "gatehouse")
		args := []string{"build", "-o", builtPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go tool is not on PATH: %w", err)
			return
		}
		out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}

// repoFile is the absolute path of a file at the repository root.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testAdminPassword is the first admin's password in every process test.
const (
	testAdminEmail    = "admin@example.com"
	testAdminPassword = "correct horse battery staple"
)

// serveEnv is the environment of a test server on db: the shipped model and
// policy, a known admin, and rate limits high enough for a write stream.
// Nothing of the caller's GATEHOUSE_ settings leaks in.
func serveEnv(t *testing.T, db string, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"GATEHOUSE_ADDR=127.0.0.1:0",
		"GATEHOUSE_DB="+db,
		"GATEHOUSE_MODEL="+repoFile(t, "model.conf"),
		"GATEHOUSE_POLICY="+repoFile(t, "policy.csv"),
		"GATEHOUSE_ADMIN_EMAIL="+testAdminEmail,
		"GATEHOUSE_ADMIN_PASSWORD="+testAdminPassword,
		"GATEHOUSE_RATE_LIMIT=1000000-S",
		"GATEHOUSE_LOGIN_RATE_LIMIT=1000000-S",
		"GATEHOUSE_COOKIE_SECURE=false",
		"GORACE=halt_on_error=1",
	)
	return append(env, extra...)
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gatehouseProcess is a running `gatehouse serve`.
type gatehouseProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:port
	stdout lockedBuffer
	stderr lockedBuffer
	exited chan struct{} // closed once the process has exited
	err    error         // Wait's error, once exited is closed
}

// startGatehouse runs `gatehouse serve` and waits until it listens. The
// process is killed at the end of the test if it still runs.
func startGatehouse(t *testing.T, env []string) *gatehouseProcess {
	t.Helper()
	p := &gatehouseProcess{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(mustBuildGatehouse(t), "serve")
	p.cmd.Env = env
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			p.stdout.Write([]byte(line + "\n"))
			if addr, ok := strings.CutPrefix(line, "gatehouse listening on "); ok {
				listening <- addr
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		p.checkNoRace()
	})
	select {
	case p.url = <-listening:
	case <-p.exited:
		t.Fatalf("gatehouse serve exited before listening: %v\nstderr:\n%s", p.err, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("gatehouse serve did not listen within 60s\nstderr:\n%s", p.stderr.String())
	}
	return p
}

// checkNoRace fails the test when the race detector spoke in the process.
func (p *gatehouseProcess) checkNoRace() {
	if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
		p.t.Errorf("data race in gatehouse serve:\n%s", p.stderr.String())
	}
}

// kill ends the process with SIGKILL, as a crash or power cut would, and
// waits for it to be gone.
func (p *gatehouseProcess) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatal(err)
	}
	<-p.exited
}

// terminate sends SIGTERM and waits up to limit for the process to exit.
// It returns the exit code and how long the exit took.
func (p *gatehouseProcess) terminate(limit time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(limit):
		p.t.Fatalf("gatehouse did not exit within %s of SIGTERM\nstderr:\n%s", limit, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// callResult is an answer of the API as the tests need it.
type callResult struct {
	status int
	body   []byte
}

// errorCode is the error field of an error answer, or "".
func (r callResult) errorCode() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

// call sends one JSON request with a Bearer token (when not empty). A
// transport error (the server is gone) is returned as is.
func call(ctx context.Context, client *http.Client, method, url, token string, in any) (callResult, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return callResult{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return callResult{}, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return callResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return callResult{}, err
	}
	return callResult{status: resp.StatusCode, body: b}, nil
}

// mustLogin signs the test admin in and returns the session token.
func mustLogin(t *testing.T, baseURL string) string {
	t.Helper()
	r, err := call(context.Background(), http.DefaultClient, http.MethodPost, baseURL+"/api/auth/login", "",
		map[string]string{"email": testAdminEmail, "password": testAdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.Token == "" {
		t.Fatalf("login answer %s: %v", r.body, err)
	}
	return out.Token
}

// httpClient is a client whose connections are closed at the end of the
// test.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}
