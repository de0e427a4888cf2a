package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// defaultEnvFile is read, relative to the working directory, when
// BECKON_ENV_FILE is empty; a missing one is no error.
const defaultEnvFile = ".env"

// withEnvFile returns getenv layered over the env file: BECKON_ENV_FILE
// (which must exist) or ./.env (when present). A variable the environment
// sets to a non-empty value wins over the file. Errors: the file cannot be
// read, or a line is malformed (the error names file:line).
func withEnvFile(getenv func(string) string) (func(string) string, error) {
	path, required := getenv("BECKON_ENV_FILE"), true
	if path == "" {
		path, required = defaultEnvFile, false
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	file, err := parseEnvFile(path, f)
	if err != nil {
		return nil, err
	}
	return func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return file[key]
	}, nil
}

// parseEnvFile reads KEY=VALUE lines. Blank lines and lines starting with
// '#' are skipped; a line may start with "export "; a value in single or
// double quotes is taken as written between them (no escapes, no
// expansion), and may be followed by a comment; in an unquoted value, a
// '#' after a space starts a comment, and surrounding spaces are trimmed.
// Errors name name:line.
func parseEnvFile(name string, r io.Reader) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validEnvKey(key) {
			return nil, fmt.Errorf("%s:%d: not a KEY=VALUE line", name, n)
		}
		value, err := envValue(value)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %v", name, n, key, err)
		}
		env[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return env, nil
}

// envValue reads what follows the '=' of a line.
func envValue(v string) (string, error) {
	if t := strings.TrimSpace(v); t == "" || (t[0] != '"' && t[0] != '\'') {
		for i := 1; i < len(v); i++ {
			if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
				v = v[:i]
				break
			}
		}
		return strings.TrimSpace(v), nil
	}
	v = strings.TrimSpace(v)
	end := strings.IndexByte(v[1:], v[0])
	if end < 0 {
		return "", fmt.Errorf("no closing %c", v[0])
	}
	value, rest := v[1:1+end], strings.TrimSpace(v[2+end:])
	if rest != "" && !strings.HasPrefix(rest, "#") {
		return "", fmt.Errorf("text after the closing %c", v[0])
	}
	return value, nil
}

func validEnvKey(k string) bool {
	if k == "" || ('0' <= k[0] && k[0] <= '9') {
		return false
	}
	return strings.IndexFunc(k, func(r rune) bool {
		return !(r == '_' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) < 0
}
