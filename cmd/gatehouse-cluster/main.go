// Command gatehouse-cluster runs gatehouse as a deployment of several
// instances on one machine, to try them: a PostgreSQL server and a Redis
// server from the system's packages in a temporary folder, N `gatehouse
// serve` processes on them, and nginx in front as the load balancer, all
// on loopback. It prints where to point curl and the console, and stops
// everything on Ctrl-C, removing the folder. (`make cluster` builds and
// runs it from the repository, whose model.conf and policy.csv the
// instances read.) It is a tool for trying things, not a way to deploy: the
// database accepts any local connection, and nothing is kept.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/app/redistest"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-cluster: "+err.Error())
		os.Exit(1)
	}
}

func run() error {
	gatehouse := flag.String("gatehouse", "bin/gatehouse", "the gatehouse binary")
	instances := flag.Int("instances", 2, "how many gatehouse serve processes")
	addr := flag.String("addr", "127.0.0.1:8080", "where the balancer (nginx) listens")
	flag.Parse()
	if *instances < 1 || *instances > 16 {
		return errors.New("--instances must be 1 to 16")
	}
	bin, err := filepath.Abs(*gatehouse)
	if err != nil {
		return err
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		return errors.New("nginx is not installed (apt-get install nginx)")
	}
	pgBin, err := pgtest.FindBinaries()
	if err != nil {
		return fmt.Errorf("%v (apt-get install postgresql)", err)
	}
	redisBin, err := redistest.FindBinary()
	if err != nil {
		return fmt.Errorf("%v (apt-get install redis-server)", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("starting PostgreSQL and Redis in a temporary folder...")
	pg, err := pgtest.Start(pgBin)
	if err != nil {
		return err
	}
	defer pg.Close()
	if err := pg.Exec(ctx, "CREATE DATABASE gatehouse"); err != nil {
		return err
	}
	redis, err := redistest.Start(redisBin)
	if err != nil {
		return err
	}
	defer redis.Close()
	dir, err := os.MkdirTemp("", "gatehouse-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var wg sync.WaitGroup
	defer wg.Wait()
	var upstreams []string
	var gone []<-chan struct{}
	for i := range *instances {
		port, err := freePort()
		if err != nil {
			return err
		}
		a := "127.0.0.1:" + strconv.Itoa(port)
		upstreams = append(upstreams, a)
		cmd := exec.CommandContext(ctx, bin, "serve")
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 15 * time.Second
		cmd.Env = append(os.Environ(),
			"GATEHOUSE_ADDR="+a,
			"GATEHOUSE_DATABASE_URL="+pg.URL("gatehouse"),
			"GATEHOUSE_REDIS_URL="+redis.URL(),
			"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32",
			"GATEHOUSE_COOKIE_SECURE=false",
		)
		exited, err := startPrefixed(cmd, fmt.Sprintf("instance %d", i+1), &wg)
		if err != nil {
			return err
		}
		gone = append(gone, exited)
		if i == 0 {
			// The first instance makes the schema and the first admin (it
			// prints the password); the others find them.
			if err := waitListening(ctx, a, exited); err != nil {
				return fmt.Errorf("instance 1: %w", err)
			}
		}
	}
	for i, a := range upstreams {
		if err := waitListening(ctx, a, gone[i]); err != nil {
			return fmt.Errorf("instance %d: %w", i+1, err)
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, *addr, upstreams)), 0o644); err != nil {
		return err
	}
	lb := exec.CommandContext(ctx, nginx, "-p", dir, "-c", conf, "-g", "daemon off;")
	lb.Cancel = func() error { return lb.Process.Signal(syscall.SIGQUIT) }
	lb.WaitDelay = 10 * time.Second
	lbExited, err := startPrefixed(lb, "nginx", &wg)
	if err != nil {
		return err
	}
	if err := waitListening(ctx, *addr, lbExited); err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	base := "http://" + *addr
	fmt.Printf(`
gatehouse: %d instances on PostgreSQL (%s) and Redis (%s), behind nginx.

  curl %s/api/health
  go run ./cmd/gatehouse-console --server %s

Sign in as admin@localhost with the password printed above. Each answer
comes from either instance; every change holds on the next request to any.
Ctrl-C stops everything and removes the data.
`, len(upstreams), pg.URL("gatehouse"), redis.URL(), base, base)
	<-ctx.Done()
	fmt.Println("\nstopping...")
	return nil
}

// nginxConf balances across upstreams round robin, passes the client's
// address (the instances trust 127.0.0.1 for X-Forwarded-For), and does not
// buffer the live event stream.
func nginxConf(dir, addr string, upstreams []string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root;\n") // workers must read the temporary folder
	}
	fmt.Fprintf(&b, `worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream gatehouse {
`, dir)
	for _, u := range upstreams {
		fmt.Fprintf(&b, "        server %s;\n", u)
	}
	fmt.Fprintf(&b, `    }
    server {
        listen %s;
        location / {
            proxy_pass http://gatehouse;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }
    }
}
`, addr)
	return b.String()
}

// startPrefixed starts cmd with its output copied to ours, each line
// prefixed with name. The channel is closed when cmd has exited.
func startPrefixed(cmd *exec.Cmd, name string, wg *sync.WaitGroup) (<-chan struct{}, error) {
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	exited := make(chan struct{})
	wg.Go(func() {
		err := cmd.Wait()
		w.Close()
		close(exited)
		if err != nil && !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "signal") {
			fmt.Fprintf(os.Stderr, "[%s] exited: %v\n", name, err)
		}
	})
	wg.Go(func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			fmt.Printf("[%s] %s\n", name, sc.Text())
		}
	})
	return exited, nil
}

// waitListening waits until something accepts connections at addr; it
// gives up when the process that should listen exits.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after 30s", addr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("it exited (its output is above)")
		case <-time.After(50 * time.Millisecond):
		}
	}
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
