package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// scanAdminPassword is the first admin's password on the scanned servers.
const scanAdminPassword = "scan admin password 1"

// scanOutput is the JSON report of gatehouse scan --json.
type scanOutput struct {
	Target    string         `json:"target"`
	Inventory string         `json:"inventory"`
	Requests  int            `json:"requests"`
	Duration  int64          `json:"duration_ms"`
	Passed    bool           `json:"passed"`
	Counts    map[string]int `json:"counts"`
	Checks    []struct {
		Check    string `json:"check"`
		Result   string `json:"result"`
		Evidence string `json:"evidence"`
	} `json:"checks"`
}

// named returns the checks with the given result, by name.
func (o scanOutput) named(result string) map[string]string {
	out := map[string]string{}
	for _, c := range o.Checks {
		if c.Result == result {
			out[c.Check] = c.Evidence
		}
	}
	return out
}

// startScanned runs gatehouse serve in-process as make run does (secure
// cookies, the default limits) with a known admin, plus env.
func startScanned(t *testing.T, env map[string]string) string {
	t.Helper()
	base := map[string]string{
		"GATEHOUSE_COOKIE_SECURE":  "true",
		"GATEHOUSE_ADMIN_EMAIL":    "admin@localhost",
		"GATEHOUSE_ADMIN_PASSWORD": scanAdminPassword,
	}
	for k, v := range env {
		base[k] = v
	}
	url, _, stop := startServe(t, base)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return url
}

// runScanJSON runs gatehouse scan --json with args and returns the report
// and the command's error (non-nil when a check failed).
func runScanJSON(t *testing.T, args ...string) (scanOutput, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := append([]string{"scan", "--json", "--model", "../../model.conf", "--policy", "../../policy.csv"}, args...)
	err := run(context.Background(), all, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	var out scanOutput
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil {
		t.Fatalf("scan %v: %v; stdout is not the JSON report (%v)\nstdout: %s\nstderr: %s", args, err, jerr, stdout.String(), stderr.String())
	}
	return out, err
}

// wantFailures checks that exactly the named checks failed and that the
// command said so.
func wantFailures(t *testing.T, out scanOutput, err error, names ...string) {
	t.Helper()
	failed := out.named("FAIL")
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for n, ev := range failed {
		if !want[n] {
			t.Errorf("unexpected failure %q: %s", n, ev)
		}
	}
	for n := range want {
		if _, ok := failed[n]; !ok {
			t.Errorf("check %q did not fail", n)
		}
	}
	if len(want) == 0 && err != nil {
		t.Errorf("scan with no failure returned %v", err)
	}
	if len(want) > 0 && (err == nil || out.Passed) {
		t.Errorf("scan with failures: error %v, passed %v; want an error (non-zero exit) and passed false", err, out.Passed)
	}
}

// TestScanOfTheRealServerPasses scans the real server on loopback twice:
// with an admin token (its own inventory) and the sign-in checks, then
// anonymously with the built-in inventory. Nothing fails and nothing is
// skipped but what plain HTTP cannot show.
func TestScanOfTheRealServerPasses(t *testing.T) {
	t.Parallel()
	url := startScanned(t, nil)
	admin := api.NewClient(url, "")
	login, err := admin.Login(context.Background(), api.LoginRequest{Email: "admin@localhost", Password: scanAdminPassword})
	if err != nil {
		t.Fatal(err)
	}

	out, err := runScanJSON(t, url, "--token", login.Token, "--email", "admin@localhost", "--password", scanAdminPassword, "--yes")
	wantFailures(t, out, err)
	if out.Inventory != "GET /api/admin/routes" {
		t.Errorf("inventory %q, want the server's own", out.Inventory)
	}
	if skipped := out.named("skip"); len(skipped) != 1 || skipped["header Strict-Transport-Security"] == "" {
		t.Errorf("skipped %v, want only HSTS (plain HTTP)", skipped)
	}
	if warned := out.named("warn"); len(warned) != 0 {
		t.Errorf("warnings %v, want none", warned)
	}
	passed := out.named("pass")
	for _, name := range []string{"route GET /api/health (public)", "route DELETE /api/admin/users/:id (guarded)",
		"path /debug/pprof/", "session cookie flags", "CSRF: cookie write without the token refused", "login limit answers 429",
		"header X-Content-Type-Options", "CORS: origin null not allowed", "unknown method answers 405 with Allow",
		"HEAD answers as GET, without a body"} {
		if _, ok := passed[name]; !ok {
			t.Errorf("check %q did not pass", name)
		}
	}
	// The default limit is 10 a minute: the test's login for the token and
	// the scan's leave 8, so the 9th wrong password is refused.
	if ev := passed["login limit answers 429"]; !strings.Contains(ev, "after 9 wrong passwords") {
		t.Errorf("login limit: %q, want 429 at the 9th wrong password", ev)
	}
	if out.Requests > 120 {
		t.Errorf("%d requests, more than the scan plans", out.Requests)
	}

	// Anonymous, with the routes of this binary and the shipped seed.
	out, err = runScanJSON(t, url)
	wantFailures(t, out, err)
	if !strings.HasPrefix(out.Inventory, "built-in routes") {
		t.Errorf("inventory %q, want the built-in one", out.Inventory)
	}
	if skipped := out.named("skip"); skipped["sign-in"] != "no --email and --password" {
		t.Errorf("sign-in without an email: %q, want skipped", skipped["sign-in"])
	}
}

// TestScanAsksBeforeSpendingTheLoginBudget: without --yes, a no skips the
// sign-in checks, and no login is sent.
func TestScanAsksBeforeSpendingTheLoginBudget(t *testing.T) {
	t.Parallel()
	url := startScanned(t, nil)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"scan", url, "--json", "--model", "../../model.conf", "--policy", "../../policy.csv",
		"--email", "admin@localhost", "--password", scanAdminPassword},
		func(string) string { return "" }, strings.NewReader("n\n"), &stdout, &stderr)
	var out scanOutput
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil {
		t.Fatalf("%v: %s", jerr, stdout.String())
	}
	wantFailures(t, out, err)
	if !strings.Contains(stderr.String(), "Go on? [y/N]") {
		t.Errorf("no question asked; stderr: %s", stderr.String())
	}
	if got := out.named("skip")["login limit answers 429"]; !strings.HasPrefix(got, "not confirmed") {
		t.Errorf("login limit check: %q, want skipped as not confirmed", got)
	}
	// The admin can still sign in: the scan spent none of the login budget.
	if _, err := api.NewClient(url, "").Login(context.Background(), api.LoginRequest{Email: "admin@localhost", Password: scanAdminPassword}); err != nil {
		t.Errorf("login after a declined scan: %v", err)
	}
}

// nginxPath finds Debian's nginx; without it the test is skipped, or fails
// under CI=true.
func nginxPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed (apt-get install nginx); CI must run this test")
	}
	t.Skip("nginx is not installed: apt-get install nginx to run this test")
	return ""
}

// nginxConf is an nginx configuration in its own prefix: one process in the
// foreground, no file outside dir, proxying to upstream. %[1]s is dir,
// %[2]s the listen address and its options, %[3]s the upstream, %[4]s
// server directives, %[5]s directives of the proxied location, %[6]s its
// path.
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s;
    %[4]s
    location %[6]s {
      proxy_pass %[3]s;
      proxy_http_version 1.1;
      %[5]s
    }
  }
}
`

// nginxSetup is the nginx a test puts in front of a server.
type nginxSetup struct {
	upstream string
	// server and location are directives of the server and of its
	// proxied location; proxyPath is that location's path ("/" if empty).
	server, location, proxyPath string
	// tls, when set, makes nginx terminate HTTPS with this certificate.
	tls *testCert
}

// testCert is a self-signed certificate for 127.0.0.1 in PEM files.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

// mustTestCert makes a self-signed certificate for 127.0.0.1 in dir.
func mustTestCert(t *testing.T) *testCert {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse scan test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(c.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.pool.AppendCertsFromPEM(certPEM)
	return c
}

// startNginx runs nginx on a free loopback port as set up and returns its
// URL. It stops when the test ends.
func startNginx(t *testing.T, setup nginxSetup) string {
	t.Helper()
	bin := nginxPath(t)
	dir := t.TempDir()
	scheme, listenOpts, server := "http", "", setup.server
	if setup.proxyPath == "" {
		setup.proxyPath = "/"
	}
	client := &http.Client{Timeout: time.Second}
	if setup.tls != nil {
		scheme, listenOpts = "https", " ssl"
		server += fmt.Sprintf("\n    ssl_certificate %s;\n    ssl_certificate_key %s;", setup.tls.certFile, setup.tls.keyFile)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: setup.tls.pool}}
	}
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, addr+listenOpts, setup.upstream, server, setup.location, setup.proxyPath), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		url := scheme + "://" + addr
		if waitAnswers(client, url+"/api/health", exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(os.Interrupt)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
			})
			return url
		}
		_ = cmd.Process.Kill()
		<-exited
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		// Another process may have taken the free port before nginx did.
		if attempt == 3 || !strings.Contains(string(log), "Address already in use") {
			t.Fatalf("nginx did not start: %s\n%s", output.String(), log)
		}
	}
}

// waitAnswers polls url until it answers 200, nginx exits, or 10 s pass.
func waitAnswers(client *http.Client, url string, exited <-chan error) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestScanThroughNginxReportsWhatTheProxyChanged: an nginx in front that
// strips X-Content-Type-Options and answers /debug/pprof/ itself gives
// exactly those two findings, and the scan fails.
func TestScanThroughNginxReportsWhatTheProxyChanged(t *testing.T) {
	t.Parallel()
	upstream := startScanned(t, nil)
	proxy := startNginx(t, nginxSetup{
		upstream: upstream,
		server:   `location = /debug/pprof/ { default_type text/plain; return 200 "profiles\n"; }`,
		location: `proxy_hide_header X-Content-Type-Options;`,
	})
	out, err := runScanJSON(t, proxy)
	wantFailures(t, out, err, "header X-Content-Type-Options", "path /debug/pprof/")
	failed := out.named("FAIL")
	if ev := failed["path /debug/pprof/"]; !strings.Contains(ev, "answered 200") {
		t.Errorf("pprof evidence %q, want the 200", ev)
	}
	if ev := failed["header X-Content-Type-Options"]; !strings.Contains(ev, "missing") {
		t.Errorf("nosniff evidence %q, want missing", ev)
	}
}

// TestScanThroughNginxReflectingOrigins: the common proxy mistake of
// echoing any Origin back with credentials is reported for the foreign and
// the null origin.
func TestScanThroughNginxReflectingOrigins(t *testing.T) {
	t.Parallel()
	upstream := startScanned(t, nil)
	proxy := startNginx(t, nginxSetup{
		upstream: upstream,
		location: `add_header Access-Control-Allow-Origin $http_origin always; add_header Access-Control-Allow-Credentials true always;`,
	})
	out, err := runScanJSON(t, proxy)
	wantFailures(t, out, err, "CORS: origin https://gatehouse-scan.invalid not allowed", "CORS: origin null not allowed")
}

// TestScanOverHTTPS: behind nginx terminating TLS, a server with secure
// cookies passes, HSTS and Secure cookies included; the same server with
// GATEHOUSE_COOKIE_SECURE=false is reported for both.
func TestScanOverHTTPS(t *testing.T) {
	t.Parallel()
	cert := mustTestCert(t)
	for _, secure := range []string{"true", "false"} {
		upstream := startScanned(t, map[string]string{"GATEHOUSE_COOKIE_SECURE": secure})
		proxy := startNginx(t, nginxSetup{upstream: upstream, tls: cert})
		out, err := runScanJSON(t, proxy, "--ca", cert.certFile, "--email", "admin@localhost", "--password", scanAdminPassword, "--yes")
		if out.named("pass")["transport"] != "HTTPS" {
			t.Errorf("cookie secure %s: transport not HTTPS: %v", secure, out.Checks)
		}
		if secure == "true" {
			wantFailures(t, out, err)
			if skipped := out.named("skip"); len(skipped) != 0 {
				t.Errorf("skipped over HTTPS: %v", skipped)
			}
			continue
		}
		wantFailures(t, out, err, "header Strict-Transport-Security", "session cookie flags")
		if ev := out.named("FAIL")["session cookie flags"]; !strings.Contains(ev, "gatehouse_session is not Secure over HTTPS") {
			t.Errorf("cookie evidence %q", ev)
		}
	}
}

// TestScanWithATokenFollowsTheDeploymentsPolicy: once an admin opens a
// route to anonymous, the built-in inventory (the seed) reports it, and the
// deployment's own inventory, read with a token, does not. The default
// output is the table; a read-only personal token is enough.
func TestScanWithATokenFollowsTheDeploymentsPolicy(t *testing.T) {
	t.Parallel()
	url := startScanned(t, nil)
	admin := api.NewClient(url, "")
	_, err := admin.Login(context.Background(), api.LoginRequest{Email: "admin@localhost", Password: scanAdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddPolicy(context.Background(), api.RuleInput{Type: "p", Rule: []string{"anonymous", "/api/admin/routes", "GET", "*"}}); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"scan", url, "--model", "../../model.conf", "--policy", "../../policy.csv"},
		func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	if err == nil {
		t.Fatalf("built-in scan of an opened route passed:\n%s", stdout.String())
	}
	table := stdout.String()
	for _, want := range []string{"CHECK", "RESULT", "EVIDENCE",
		"route GET /api/admin/routes (guarded)", "FAIL", "GET /api/admin/routes answered 200; an anonymous caller must get 401 unauthorized"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	// A read-only personal token is enough to read the inventory.
	pat, err := admin.CreateToken(context.Background(), api.CreateTokenRequest{Password: scanAdminPassword, Name: "scan", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := runScanJSON(t, url, "--token", pat.Secret)
	wantFailures(t, out, err)
	if ev := out.named("pass")["route GET /api/admin/routes (public)"]; ev != "GET /api/admin/routes answered 200" {
		t.Errorf("with the token, GET /api/admin/routes: %q, want public and passing", ev)
	}
}

// TestScanOfAFrontEndOnTheSameOrigin: README's same-origin setup, nginx
// serving a single-page app with its index.html fallback and passing
// /api/ to gatehouse. Strict, the front end's paths are findings; with
// --frontend they pass, but a real file the proxy serves (.env) is still
// reported.
func TestScanOfAFrontEndOnTheSameOrigin(t *testing.T) {
	t.Parallel()
	upstream := startScanned(t, nil)
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("<!doctype html><title>app</title>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := startNginx(t, nginxSetup{
		upstream:  upstream,
		server:    fmt.Sprintf("root %s;\n    location / { try_files $uri /index.html; }", site),
		proxyPath: "/api/",
	})
	frontPaths := []string{"path /", "path /debug/pprof/", "path /metrics", "path /.env"}

	out, err := runScanJSON(t, proxy)
	wantFailures(t, out, err, frontPaths...)

	out, err = runScanJSON(t, proxy, "--frontend")
	wantFailures(t, out, err)
	for _, p := range frontPaths[1:] {
		if ev := out.named("pass")[p]; !strings.HasSuffix(ev, "the front end's page, the same as /") {
			t.Errorf("%s: %q, want the front end's page", p, ev)
		}
	}

	if err := os.WriteFile(filepath.Join(site, ".env"), []byte("DATABASE_PASSWORD=hunter2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runScanJSON(t, proxy, "--frontend")
	wantFailures(t, out, err, "path /.env")
	if ev := out.named("FAIL")["path /.env"]; !strings.Contains(ev, "DATABASE_PASSWORD") {
		t.Errorf("evidence %q, want what was served", ev)
	}
}

// TestScanOfServerSettings: what a scan makes of the server's own
// settings. Each case runs its own server with env and scans it with args.
func TestScanOfServerSettings(t *testing.T) {
	t.Parallel()
	signIn := []string{"--email", "admin@localhost", "--password", scanAdminPassword, "--yes"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		// failed are the checks that must fail, and nothing else.
		failed []string
		// check looks at the evidence.
		check func(t *testing.T, out scanOutput)
	}{{
		// CORS opened to an origin that is not the deployment's own.
		name:   "CORS allows a foreign origin",
		env:    map[string]string{"GATEHOUSE_CORS_ORIGINS": "https://attacker.example"},
		args:   []string{"--origin", "https://attacker.example"},
		failed: []string{"CORS: origin https://attacker.example not allowed"},
		check: func(t *testing.T, out scanOutput) {
			ev := out.named("FAIL")["CORS: origin https://attacker.example not allowed"]
			if !strings.Contains(ev, "Access-Control-Allow-Origin: https://attacker.example") || !strings.Contains(ev, "Access-Control-Allow-Credentials: true") {
				t.Errorf("evidence %q, want the allow headers it got", ev)
			}
		},
	}, {
		// An unpaced scan against 20 requests a second waits for each
		// window to reset instead of being refused.
		name: "a tighter rate limit is waited out",
		env:  map[string]string{"GATEHOUSE_RATE_LIMIT": "20-S"},
		args: []string{"--interval", "0"},
		check: func(t *testing.T, out scanOutput) {
			if out.Requests < 40 {
				t.Errorf("%d requests: the scan cannot have met the limit", out.Requests)
			}
		},
	}, {
		name:   "a login limit above the scan's attempts",
		env:    map[string]string{"GATEHOUSE_LOGIN_RATE_LIMIT": "100-M"},
		args:   append([]string{"--interval", "0"}, signIn...),
		failed: []string{"login limit answers 429"},
		check: func(t *testing.T, out scanOutput) {
			if ev := out.named("FAIL")["login limit answers 429"]; !strings.HasPrefix(ev, `no 429 after 25 wrong passwords (X-RateLimit-Limit: "100")`) {
				t.Errorf("evidence %q", ev)
			}
		},
	}, {
		// Granted by the policy, refused by the server: a warning.
		name: "registration closed by its setting",
		env:  map[string]string{"GATEHOUSE_ALLOW_REGISTRATION": "false"},
		args: []string{"--interval", "0"},
		check: func(t *testing.T, out scanOutput) {
			warned := out.named("warn")
			if ev := warned["route POST /api/auth/register (public)"]; !strings.HasPrefix(ev, "POST /api/auth/register answered 403 forbidden") || len(warned) != 1 {
				t.Errorf("warnings %v, want registration's 403", warned)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := startScanned(t, tt.env)
			out, err := runScanJSON(t, append([]string{url}, tt.args...)...)
			wantFailures(t, out, err, tt.failed...)
			tt.check(t, out)
		})
	}
}
