package app

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// Slow and hostile clients over loopback, against the configured
// connection timeouts (config.go). The stream's own client that never
// reads is TestNeverReadingStreamClientIsDropped; the subscriber side of
// it is TestSlowSubscriberIsDropped (failures_test.go).

// readUntilClosed reads conn until the server closes it, and fails the test
// when that takes longer than within. It returns what was read.
func readUntilClosed(t *testing.T, conn net.Conn, within time.Duration) []byte {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(within)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("the server kept the connection open for %s; read %q", within, got)
	case err != nil && !errors.Is(err, syscall.ECONNRESET):
		t.Fatalf("read: %v", err)
	}
	return got
}

// TestSlowlorisHeadersAreCut sends request headers a line at a time, never
// finishing them: the server closes the connection at ReadHeaderTimeout
// without an answer, and serves others meanwhile.
func TestSlowlorisHeadersAreCut(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	ls := mustLiveServer(t, func(c *Config) { c.ReadHeaderTimeout = timeout })
	// The server's clock starts when it accepts the connection, which may
	// be before Dial returns here: start ours before dialling, so the lower
	// bound below holds whatever the scheduling.
	start := time.Now()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ls.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		if _, err := io.WriteString(conn, "GET /api/health HTTP/1.1\r\nHost: gatehouse\r\n"); err != nil {
			return
		}
		tick := time.NewTicker(timeout / 10)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := fmt.Fprintf(conn, "X-Slow-%d: x\r\n", i); err != nil {
				return
			}
		}
	}()
	wantStatus(t, ls.do(t, request{path: "/api/health"}), http.StatusOK)
	got := readUntilClosed(t, conn, 10*timeout)
	if took := time.Since(start); took < timeout {
		t.Errorf("closed after %s, before the header timeout of %s", took, timeout)
	}
	if len(got) != 0 {
		t.Errorf("the server answered unfinished headers: %q", got)
	}
	t.Logf("closed after %s", time.Since(start).Round(time.Millisecond))
	wantStatus(t, ls.do(t, request{path: "/api/health"}), http.StatusOK)
}

// TestTrickledBodyIsCut sends a login body a byte at a time: ReadTimeout
// ends the request. The client gets a 400 JSON answer or a closed
// connection, never a hang and never a 500.
func TestTrickledBodyIsCut(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	ls := mustLiveServer(t, func(c *Config) { c.ReadTimeout = timeout })
	start := time.Now() // before dialling: the server's clock starts at accept
	conn, err := net.Dial("tcp", strings.TrimPrefix(ls.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"someone@example.com","password":"` + strings.Repeat("p", 200) + `"}`
	fmt.Fprintf(conn, "POST /api/auth/login HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := range len(body) {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	got := readUntilClosed(t, conn, 10*timeout)
	took := time.Since(start)
	if took < timeout {
		t.Errorf("cut after %s, before the read timeout of %s", took, timeout)
	}
	if len(got) == 0 {
		t.Logf("closed without an answer after %s", took.Round(time.Millisecond))
		return
	}
	t.Logf("answered after %s", took.Round(time.Millisecond))
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(got))), nil)
	if err != nil {
		t.Fatalf("answer %q: %v", got, err)
	}
	defer resp.Body.Close()
	var e api.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusBadRequest || e.Code != api.CodeInvalidJSON {
		t.Fatalf("a trickled body got %d %q (%s)", resp.StatusCode, e.Code, e.Message)
	}
}

// TestIdleKeepAliveConnectionsAreClosed holds a couple of thousand
// keep-alive connections idle after one request each: the server keeps
// answering, closes every one of them at IdleTimeout, and its file
// descriptors come back to what they were.
func TestIdleKeepAliveConnectionsAreClosed(t *testing.T) {
	// Not parallel: it counts the process's file descriptors.
	const (
		conns   = 2000
		timeout = 2 * time.Second
	)
	ls := mustLiveServer(t, func(c *Config) {
		c.IdleTimeout = timeout
		c.RateLimit = "1000000-M"
	})
	addr := strings.TrimPrefix(ls.url, "http://")
	wantStatus(t, ls.do(t, request{path: "/api/health"}), http.StatusOK)
	ls.http.CloseIdleConnections()
	baseFDs := openFDs(t) // -1 where they cannot be counted: no check then

	open := make([]net.Conn, conns)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				conn, err := keepAliveRequest(addr)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("connection %d: %w", i, err)
				}
				open[i] = conn
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := range conns {
		next <- i
	}
	close(next)
	wg.Wait()
	defer func() {
		for _, c := range open {
			if c != nil {
				c.Close()
			}
		}
	}()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	t.Logf("%d keep-alive connections opened in %s", conns, time.Since(start).Round(time.Millisecond))
	if fds := openFDs(t); baseFDs >= 0 && fds < baseFDs+conns {
		t.Logf("%d descriptors open (%d before): the first connections already timed out", fds, baseFDs)
	}
	wantStatus(t, ls.do(t, request{path: "/api/health"}), http.StatusOK)

	// Every idle connection is closed by the server, without an answer.
	errs := make(chan error, conns)
	for _, c := range open {
		wg.Go(func() {
			if err := c.SetReadDeadline(time.Now().Add(timeout + 10*time.Second)); err != nil {
				errs <- err
				return
			}
			n, err := c.Read(make([]byte, 1))
			if n != 0 || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				errs <- fmt.Errorf("idle connection: read %d bytes, %v", n, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, c := range open {
		c.Close()
	}
	ls.http.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > baseFDs {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open, %d before the connections", openFDs(t), baseFDs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantStatus(t, ls.do(t, request{path: "/api/health"}), http.StatusOK)
}

// keepAliveRequest opens a connection, sends one keep-alive request and
// reads its answer whole, leaving the connection idle.
func keepAliveRequest(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, "GET /api/health HTTP/1.1\r\nHost: gatehouse\r\n\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && (resp.StatusCode != http.StatusOK || resp.Close) {
		err = fmt.Errorf("answer %d, close %v", resp.StatusCode, resp.Close)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// smallBufferListener gives every accepted connection a small send buffer,
// so that a client that never reads blocks the server's writes after a few
// kilobytes rather than megabytes.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// subscribers is how many streams the auth-failure log feeds.
func (l *failureLog) subscribers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}

// dialSmallReadBuffer connects to addr with a receive buffer of bytes, set
// before the connection is made. Set after it (TCPConn.SetReadBuffer), the
// buffer shrinks below the window already announced to the server, whose
// data then overflows it and is dropped: the server retransmits with an
// exponential backoff that, after seconds of a client not reading, keeps
// the rest of the data and the close back for as long again once the
// client does read. Set before, the window never exceeds the buffer, the
// server's writes stop at a zero window instead, and the client's reads
// reopen it at once.
func dialSmallReadBuffer(t *testing.T, addr string, bytes int) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) { err = setReceiveBuffer(fd, bytes) }); cerr != nil {
			return cerr
		}
		return err
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestNeverReadingStreamClientIsDropped opens the auth-failure stream over
// a connection that never reads, and a second one that does, then makes
// failures until the first is dropped. Meanwhile every other request is
// answered and the reading stream keeps getting events; the dropped one's
// connection is closed by the server (within the stream's write timeout).
func TestNeverReadingStreamClientIsDropped(t *testing.T) {
	t.Parallel()
	srv, db, logs := newBareServer(t, func(c *Config) {
		c.RateLimit = "1000000-M"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := serveLiveOn(t, srv, db, logs, smallBufferListener{l})
	_, admin := mustUser(t, srv, "admin@example.com", "admin")

	conn := dialSmallReadBuffer(t, strings.TrimPrefix(ls.url, "http://"), 2<<10)
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/admin/auth-failures/stream HTTP/1.1\r\nHost: gatehouse\r\nAuthorization: Bearer %s\r\n\r\n", admin)
	deadline := time.Now().Add(5 * time.Second)
	for srv.failures.subscribers() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the never-reading stream did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The reading stream is read all along, as a console would. Left unread
	// while thousands of failures are made, it would fall behind in turn and
	// could be dropped soon after the never-reading one.
	lines, _ := openStream(t, ls, admin, "")
	var mu sync.Mutex
	seen := map[string]bool{} // request ids of the events read
	go func() {
		for l := range lines {
			data, ok := strings.CutPrefix(l, "data: ")
			if !ok {
				continue
			}
			var f api.AuthFailure
			if json.Unmarshal([]byte(data), &f) == nil {
				mu.Lock()
				seen[f.RequestID] = true
				mu.Unlock()
			}
		}
	}()

	start := time.Now()
	deadline = start.Add(streamWriteTimeout + 10*time.Second)
	sent := 0
	var lastID string
	for srv.failures.subscribers() == 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the never-reading stream was still fed after %d failures", sent)
		}
		// Anonymous requests from ever new addresses: each is its own
		// record, and every answer must still come.
		a, err := ls.try(request{path: "/api/auth/me", headers: []string{xff(fmt.Sprintf("10.%d.%d.%d", sent>>16&255, sent>>8&255, sent&255))}})
		if err != nil {
			t.Fatalf("after %d failures: %v", sent, err)
		}
		if a.status != http.StatusUnauthorized || a.err.Code != api.CodeUnauthorized {
			t.Fatalf("after %d failures: %d %q", sent, a.status, a.err.Code)
		}
		lastID = a.err.RequestID
		sent++
	}
	t.Logf("dropped after %d failures and %s", sent, time.Since(start).Round(time.Millisecond))
	// The reading stream got the failures made meanwhile, and still gets
	// new ones.
	a := ls.do(t, request{path: "/api/auth/me", headers: []string{xff("192.0.2.77")}})
	deadline = time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := seen[lastID] && seen[a.err.RequestID]
		mu.Unlock()
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reading stream did not get the failures %s (the last before the drop) and %s (one after)", lastID, a.err.RequestID)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// And the server lets go of the dropped connection.
	readUntilClosed(t, conn, streamWriteTimeout+5*time.Second)
}
