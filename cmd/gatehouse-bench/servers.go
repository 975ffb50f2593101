package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store/bolt"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
)

// benchConfig is the server configuration of every measurement: the
// defaults, with rate limits high enough that the load generator, which
// sends everything from 127.0.0.1, is counted but never refused, and
// loopback trusted as a proxy so that a flood can come from many addresses
// (X-Forwarded-For).
func benchConfig() app.Config {
	cfg := app.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.RateLimit = "100000000-M"
	cfg.LoginRateLimit = "100000000-M"
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	return cfg
}

// benchEnv is benchConfig for a gatehouse serve process, whose store is
// named by storeEnv (GATEHOUSE_DB=..., or GATEHOUSE_DATABASE_URL=... and
// GATEHOUSE_REDIS_URL=...).
func benchEnv(modelPath, policyPath string, storeEnv ...string) []string {
	return append(append(os.Environ(),
		"GATEHOUSE_MODEL="+modelPath, "GATEHOUSE_POLICY="+policyPath,
		"GATEHOUSE_ADDR=127.0.0.1:0", "GATEHOUSE_RATE_LIMIT=100000000-M", "GATEHOUSE_LOGIN_RATE_LIMIT=100000000-M",
		"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32"), storeEnv...)
}

// inProcess is the real server in this process on a loopback port, over
// the database file (fsync on, as in production).
type inProcess struct {
	db    *bolt.DB
	authz *rbac.Authorizer
	srv   *app.Server
	url   string
	stop  func() error
}

func startInProcess(ctx context.Context, dbPath, modelPath string, logTo io.Writer) (*inProcess, error) {
	model, err := rbac.LoadModel(modelPath)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(dbPath, bolt.Options{})
	if err != nil {
		return nil, err
	}
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		db.Close()
		return nil, err
	}
	srv, err := app.NewServer(slog.New(slog.NewJSONHandler(logTo, nil)), benchConfig(), db, authz)
	if err != nil {
		db.Close()
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, l) }()
	return &inProcess{
		db: db, authz: authz, srv: srv, url: "http://" + l.Addr().String(),
		stop: func() error {
			cancel()
			err := <-done
			return errors.Join(err, db.Close())
		},
	}, nil
}

// hasRoute reports whether the server has method path.
func (p *inProcess) hasRoute(method, path string) bool {
	for _, r := range p.srv.Inventory().Routes {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// startBare serves GET /api/notes/:id from memory with a bare Echo: the
// baseline of the HTTP comparison, the least a Go service can do to answer
// the same JSON.
func startBare(notes map[string]api.Note) (url string, stop func() error, err error) {
	return serveBare(func(c echo.Context) error {
		n, ok := notes[c.Param("id")]
		if !ok {
			return echo.ErrNotFound
		}
		return c.JSON(http.StatusOK, n)
	})
}

// startBlob serves body, JSON encoded already, as every GET
// /api/notes/:id with a bare Echo: the baseline of the wrk comparison,
// which encodes nothing per request.
func startBlob(body []byte) (url string, stop func() error, err error) {
	return serveBare(func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) })
}

// startOneQuery serves GET /api/notes/:id with a bare Echo that reads
// body, stored once in the PostgreSQL database at dbURL, with one indexed
// query per request through a pgx pool: the baseline of the comparison on
// PostgreSQL, the least a request can do that must look something up there.
func startOneQuery(ctx context.Context, dbURL string, body []byte) (url string, stop func() error, err error) {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return "", nil, err
	}
	_, err = pool.Exec(ctx, "CREATE TABLE bare_docs (id bigint PRIMARY KEY, doc bytea NOT NULL)")
	if err == nil {
		_, err = pool.Exec(ctx, "INSERT INTO bare_docs VALUES (1, $1)", body)
	}
	if err != nil {
		pool.Close()
		return "", nil, err
	}
	url, stopServer, err := serveBare(func(c echo.Context) error {
		var b []byte
		if err := pool.QueryRow(c.Request().Context(), "SELECT doc FROM bare_docs WHERE id = 1").Scan(&b); err != nil {
			return err
		}
		return c.JSONBlob(http.StatusOK, b)
	})
	if err != nil {
		pool.Close()
		return "", nil, err
	}
	return url, func() error {
		err := stopServer()
		pool.Close()
		return err
	}, nil
}

// serveBare serves h as GET /api/notes/:id with a bare Echo on a loopback
// port.
func serveBare(h echo.HandlerFunc) (url string, stop func() error, err error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api/notes/:id", h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() error { return srv.Shutdown(context.Background()) }, nil
}

// process is a `gatehouse serve` child process.
type process struct {
	cmd *exec.Cmd
	url string
	// ready is the time from exec to the first healthy answer.
	ready time.Duration
}

// startProcess runs bin serve with env and waits until it answers
// GET /api/health, reading its address from its first line of output.
func startProcess(ctx context.Context, bin string, env []string) (*process, error) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = env
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "gatehouse listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			_ = p.stop()
			return nil, fmt.Errorf("%s serve exited before listening", bin)
		}
		p.url = a
	case <-time.After(2 * time.Minute):
		_ = p.stop()
		return nil, fmt.Errorf("%s serve did not listen within 2 minutes", bin)
	}
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(p.url + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 2*time.Minute {
			_ = p.stop()
			return nil, errors.New("the server did not become healthy within 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.ready = time.Since(start)
	return p, nil
}

// stop ends the process as a signal would, and waits for it.
func (p *process) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		return <-done
	}
}

// memory returns the process's resident memory now and at its peak since
// it started, in bytes, from /proc (Linux only; zero elsewhere).
func (p *process) memory() (rss, peak int64) {
	m := p.status()
	return m["VmRSS"], m["VmHWM"]
}

// anonymous returns the process's resident memory now: all of it, and the
// anonymous part (the Go heap and stacks, without the pages of the
// database file that bbolt maps).
func (p *process) anonymous() (rss, anon int64) {
	m := p.status()
	return m["VmRSS"], m["RssAnon"]
}

// status reads the memory figures of /proc/PID/status, in bytes.
func (p *process) status() map[string]int64 {
	out := map[string]int64{}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return out
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v, ok := strings.CutSuffix(strings.TrimSpace(value), " kB")
		if !ok {
			continue
		}
		if kb, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[name] = kb << 10
		}
	}
	return out
}

// login signs in user id of a generated database and returns the session
// token.
func login(ctx context.Context, url string, g *generated, id int) (string, error) {
	res, err := api.NewClient(url, "").Login(ctx, api.LoginRequest{Email: email(id), Password: g.password})
	if err != nil {
		return "", fmt.Errorf("login as user %d: %w", id, err)
	}
	return res.Token, nil
}

// personalToken signs in user id and creates a personal API token
// (gatehouse_pat_...), the credential a script or another service sends as
// a Bearer token; it returns the token's secret.
func personalToken(ctx context.Context, url string, g *generated, id int) (string, error) {
	session, err := login(ctx, url, g, id)
	if err != nil {
		return "", err
	}
	tok, err := api.NewClient(url, session).CreateToken(ctx, api.CreateTokenRequest{Name: "gatehouse-bench", Password: g.password})
	if err != nil {
		return "", fmt.Errorf("personal token of user %d: %w", id, err)
	}
	return tok.Secret, nil
}
