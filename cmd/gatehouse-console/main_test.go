package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", want: config{server: "http://127.0.0.1:8080"}},
		{name: "env", env: map[string]string{"GATEHOUSE_SERVER": "https://gh.example.com", "GATEHOUSE_TOKEN": "tok"},
			want: config{server: "https://gh.example.com", token: "tok"}},
		{name: "flag wins over env", args: []string{"--server", "http://10.1.2.3:9000", "--email", "me@example.com"},
			env:  map[string]string{"GATEHOUSE_SERVER": "https://gh.example.com"},
			want: config{server: "http://10.1.2.3:9000", email: "me@example.com"}},
		{name: "not a URL", args: []string{"--server", "127.0.0.1:8080"},
			wantErr: `--server "127.0.0.1:8080": want a URL such as http://127.0.0.1:8080`},
		{name: "stray argument", args: []string{"users"}, wantErr: `unexpected argument "users" (see --help)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseConfig(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("parseConfig = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	_, err := parseConfig([]string{"--help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "usage: gatehouse-console [--server URL] [--email EMAIL]") ||
		!strings.Contains(out.String(), "GATEHOUSE_TOKEN") {
		t.Errorf("help = %q", out.String())
	}
}
