package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
)

func TestFailureLogSettings(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	c := serveConfig{Config: app.DefaultConfig()}
	if err := parseSettings("serve", serveSettings(&c), nil, env(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
	if c.FailureRetention != 720*time.Hour || c.FailureMaxRecords != 50000 {
		t.Fatalf("defaults: %v, %d", c.FailureRetention, c.FailureMaxRecords)
	}
	c = serveConfig{Config: app.DefaultConfig()}
	err := parseSettings("serve", serveSettings(&c), []string{"--failure-max-records", "100"},
		env(map[string]string{"GATEHOUSE_FAILURE_RETENTION": "48h", "GATEHOUSE_FAILURE_MAX_RECORDS": "7"}), io.Discard)
	if err != nil || c.FailureRetention != 48*time.Hour || c.FailureMaxRecords != 100 {
		t.Fatalf("env and flag: %v, %d, %v", c.FailureRetention, c.FailureMaxRecords, err)
	}
	for name, value := range map[string]string{
		"GATEHOUSE_FAILURE_RETENTION":   "forever",
		"GATEHOUSE_FAILURE_MAX_RECORDS": "0",
	} {
		c = serveConfig{Config: app.DefaultConfig()}
		err := parseSettings("serve", serveSettings(&c), nil, env(map[string]string{name: value}), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), name+": ") {
			t.Errorf("%s=%s: %v", name, value, err)
		}
	}
}

func TestTimeoutSettings(t *testing.T) {
	t.Parallel()
	c := serveConfig{Config: app.DefaultConfig()}
	if err := parseSettings("serve", serveSettings(&c), nil, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if c.ReadHeaderTimeout != 5*time.Second || c.ReadTimeout != 30*time.Second || c.WriteTimeout != time.Minute || c.IdleTimeout != 2*time.Minute {
		t.Fatalf("defaults: %+v", c.Config)
	}
	vars := map[string]string{"GATEHOUSE_READ_HEADER_TIMEOUT": "2s", "GATEHOUSE_READ_TIMEOUT": "3s", "GATEHOUSE_WRITE_TIMEOUT": "4s", "GATEHOUSE_IDLE_TIMEOUT": "5s"}
	err := parseSettings("serve", serveSettings(&c), []string{"--idle-timeout", "6s"}, func(k string) string { return vars[k] }, io.Discard)
	if err != nil || c.ReadHeaderTimeout != 2*time.Second || c.ReadTimeout != 3*time.Second || c.WriteTimeout != 4*time.Second || c.IdleTimeout != 6*time.Second {
		t.Fatalf("env and flag: %v %v %v %v, %v", c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout, err)
	}
}

// .env.example documents every setting of gatehouse serve with its default.
func TestEnvExampleListsEverySetting(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "GATEHOUSE_") {
			listed[k] = v
		}
	}
	var c serveConfig
	for _, s := range serveSettings(&c) {
		v, ok := listed[s.env]
		switch {
		case !ok:
			t.Errorf("add %s=%s to .env.example, with a comment", s.env, s.def)
		case v != s.def:
			t.Errorf(".env.example has %s=%s, the default is %q", s.env, v, s.def)
		}
		delete(listed, s.env)
	}
	for k := range listed {
		t.Errorf(".env.example lists %s, which gatehouse serve does not read", k)
	}
}
