package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's chromium through chromedp. One browser
// serves the whole test binary (starting one takes about a second); every
// test gets a browser context of its own, with its own cookies, as a fresh
// profile would have.

// testSite is a site whose subdomains the browser finds on loopback:
// app.gatehouse.test and api.gatehouse.test are two origins of one site.
const testSite = "gatehouse.test"

// browser is the test binary's one Chromium, started by the first test that
// needs it and closed by TestMain.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	closeBrowser()
	os.Exit(code)
}

// chromiumPath finds the browser, or says how to get it.
func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("chromium is not installed (apt-get install chromium)")
}

func startBrowser(path string) {
	dir, err := os.MkdirTemp("", "gatehouse-chromium-")
	if err != nil {
		browser.err = err
		return
	}
	browser.dir = dir
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		// As root (CI) the sandbox cannot start. The network here is
		// closed: without the background-networking flags Chromium keeps
		// dialling Google's hosts and stalls.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		// Two hosts of one site for the subdomain setup, both on loopback,
		// with no DNS.
		chromedp.Flag("host-resolver-rules", "MAP *."+testSite+" 127.0.0.1"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	browser.ctx = ctx
	browser.cancel = func() { cancelCtx(); cancelAlloc() }
	// The first Do starts the browser, which lives as long as the context
	// of that Do: ctx itself, not one with a deadline.
	if err := chromedp.Do(ctx); err != nil {
		browser.err = fmt.Errorf("start %s: %w", path, err)
	}
}

func closeBrowser() {
	if browser.cancel != nil {
		browser.cancel()
	}
	if browser.dir != "" {
		os.RemoveAll(browser.dir)
	}
}

// mustBrowserTab opens a tab in a new browser context (its own cookies and
// storage), closed when the test ends. Without chromium the test is
// skipped, unless CI=true: there the browser tests must run.
func mustBrowserTab(t *testing.T) context.Context {
	t.Helper()
	path, err := chromiumPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI=true needs the browser tests", err)
		}
		t.Skipf("%v: browser tests skipped", err)
	}
	browser.once.Do(func() { startBrowser(path) })
	if browser.err != nil {
		t.Fatal(browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// do runs browser steps, failing the test on an error.
func do(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval runs a script in the tab's page, awaiting a promise it returns, and
// decodes its JSON result.
func eval[T any](t *testing.T, tab context.Context, script string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return v
}

// browserCookies are the cookies the browser would send to u, HttpOnly ones
// included: what the browser holds, not what a page sees.
func browserCookies(t *testing.T, tab context.Context, u string) map[string]*network.Cookie {
	t.Helper()
	cks, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
		if err != nil {
			return nil, err
		}
		return r.Cookies, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*network.Cookie{}
	for _, ck := range cks {
		out[ck.Name] = ck
	}
	return out
}

// pageHandler serves html at /.
func pageHandler(html string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, html)
	})
	return mux
}

// servePage serves html at / on a loopback port until the test ends.
func servePage(t *testing.T, html string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(pageHandler(html))
	t.Cleanup(srv.Close)
	return srv
}

// serveFront is the same-origin setup: one origin serving the app's page at
// / and passing /api/ to the API, as a reverse proxy in front of both would.
// It keeps the Host the browser asked for and adds X-Forwarded-For, as
// README's proxy setup does.
func serveFront(t *testing.T, api string) string {
	t.Helper()
	target, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	mux := http.NewServeMux()
	mux.Handle("/api/", proxy)
	mux.Handle("GET /{$}", pageHandler(appPage))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// appPage is a minimal single-page app: call() is its one way to the API
// (same origin, the browser's cookies), csrfCookie() reads the CSRF token
// back from the gatehouse_csrf cookie after a reload.
const appPage = `<!doctype html>
<meta charset="utf-8">
<title>app</title>
<script>
function csrfCookie() {
  const m = document.cookie.match(/(?:^|; )gatehouse_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}
async function call(method, path, body, csrf) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  return {status: r.status, text: await r.text()};
}
</script>
<p>app</p>
`

// pageAnswer is what call() returns: the status and the body as text.
type pageAnswer struct {
	Status int    `json:"status"`
	Text   string `json:"text"`
}

// pageCall makes the app page call the API.
func pageCall(t *testing.T, tab context.Context, method, path string, body any, csrf string) pageAnswer {
	t.Helper()
	b := "undefined"
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		b = string(j)
	}
	c, _ := json.Marshal(csrf)
	return eval[pageAnswer](t, tab, fmt.Sprintf("call(%q, %q, %s, %s)", method, path, b, c))
}

// wantPage checks a page's answer: the status, and for an error its code.
func wantPage(t *testing.T, a pageAnswer, status int, code string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal([]byte(a.Text), &e)
	if a.Status != status || e.Error != code {
		t.Fatalf("page got %d %s, want %d %q", a.Status, a.Text, status, code)
	}
}
