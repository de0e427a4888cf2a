package main

import (
	"maps"
	"reflect"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{"OK", "# a comment\n\nBECKON_ADDR=127.0.0.1:9000\n  BECKON_LOG_LEVEL = debug  \n",
			map[string]string{"BECKON_ADDR": "127.0.0.1:9000", "BECKON_LOG_LEVEL": "debug"}, ""},
		{"OKExport", "export BECKON_ADDR=:1\n", map[string]string{"BECKON_ADDR": ":1"}, ""},
		{"OKQuotes", "A=\"Beckon <no-reply@x>\"\nB='  $HOME  '\nC=\"# not a comment\" # a comment\nD=''\n",
			map[string]string{"A": "Beckon <no-reply@x>", "B": "  $HOME  ", "C": "# not a comment", "D": ""}, ""},
		{"OKInlineComment", "A=x # note\nB=a#b\nC= # empty\n", map[string]string{"A": "x", "B": "a#b", "C": ""}, ""},
		{"OKEmpty", "A=\n", map[string]string{"A": ""}, ""},
		{"OKLastWins", "A=1\nA=2\n", map[string]string{"A": "2"}, ""},
		{"ErrNoEquals", "A=1\nBECKON_ADDR 127.0.0.1\n", nil, "test.env:2: not a KEY=VALUE line"},
		{"ErrKey", "\n1A=x\n", nil, "test.env:2: not a KEY=VALUE line"},
		{"ErrKeySpace", "MY KEY=x\n", nil, "test.env:1:"},
		{"ErrUnclosedQuote", "A=\"x\n", nil, `test.env:1: A: no closing "`},
		{"ErrTextAfterQuote", "A=\"x\"y\n", nil, `test.env:1: A: text after the closing "`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseEnvFile("test.env", strings.NewReader(c.in))
			if c.want == nil {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v; want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, c.want) {
				t.Fatalf("got %v; want %v", got, c.want)
			}
		})
	}
}

// TestEnvExample: .env.example copied to .env is read without error and
// gives the configuration of an empty environment: its defaults are the
// code's.
func TestEnvExample(t *testing.T) {
	getenv, err := withEnvFile(envFunc(map[string]string{"BECKON_ENV_FILE": "../../.env.example"}))
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := loadConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := loadConfig(envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, defaults) {
		t.Fatalf(".env.example gives\n%+v\nthe code's defaults are\n%+v", fromFile, defaults)
	}
}
