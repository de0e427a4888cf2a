package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const templatesUsage = `usage: beckon templates <command>

commands (they talk to a running server: BECKON_URL, default http://127.0.0.1:8080,
with the key in BECKON_API_KEY, which needs the templates scope; the history
names that key):
  list                                      every template × locale and its active version
  show NAME LOCALE [--version N]            a version (default the active one) and the history
  put NAME LOCALE FILE                      save FILE (- for standard input) as the next version, not active
  preview NAME LOCALE [--version N] [--data FILE.json] [--out FILE.html]
                                            render with sample (or given) data
  activate NAME LOCALE VERSION              make VERSION the active one (an older one: a rollback)
  diff NAME LOCALE A B                      what changed between versions A and B
  edit NAME LOCALE                          edit the active version in $EDITOR; saved as the next version

A template file holds its parts after "=== subject ===", "=== text ===" and
"=== html ===" lines (invite.sms has only text), as show prints them.`

// templatesCmd is `beckon templates`: a client of the running server's
// templates API.
func templatesCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, templatesUsage)
		if len(args) == 0 {
			return errors.New("templates needs a command")
		}
		return nil
	}
	base := strings.TrimRight(getenv("BECKON_URL"), "/")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	key := getenv("BECKON_API_KEY")
	c := &tplClient{ctx: ctx, base: base, key: key, http: &http.Client{Timeout: 30 * time.Second}}
	fs := flag.NewFlagSet("templates "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.Int("version", 0, "version (default: the active one)")
	dataFile := fs.String("data", "", "JSON file of preview data (inviter_name, chat_title, ...)")
	out := fs.String("out", "", "write the rendered HTML to this file")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	need := func(n int, usage string) error {
		if len(pos) != n {
			return fmt.Errorf("usage: beckon templates %s", usage)
		}
		if key == "" {
			return errors.New("set BECKON_API_KEY to a key with the templates scope (beckon keys create --name NAME --scopes templates)")
		}
		return nil
	}
	switch args[0] {
	case "list":
		if err := need(0, "list"); err != nil {
			return err
		}
		return c.list(stdout)
	case "show":
		if err := need(2, "show NAME LOCALE [--version N]"); err != nil {
			return err
		}
		return c.show(stdout, pos[0], pos[1], *version)
	case "put":
		if err := need(3, "put NAME LOCALE FILE"); err != nil {
			return err
		}
		var b []byte
		if pos[2] == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(pos[2])
		}
		if err != nil {
			return err
		}
		v, err := c.put(pos[0], pos[1], string(b))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s %s version %d (not active: beckon templates activate %s %s %d)\n", pos[0], pos[1], v, pos[0], pos[1], v)
		return nil
	case "preview":
		if err := need(2, "preview NAME LOCALE [--version N] [--data FILE.json] [--out FILE.html]"); err != nil {
			return err
		}
		return c.preview(stdout, pos[0], pos[1], *version, *dataFile, *out)
	case "activate":
		if err := need(3, "activate NAME LOCALE VERSION"); err != nil {
			return err
		}
		n, err := strconv.Atoi(pos[2])
		if err != nil {
			return fmt.Errorf("VERSION must be a number, not %q", pos[2])
		}
		if err := c.do("POST", tplPath(pos[0], pos[1], "activate"), map[string]any{"version": n}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s: version %d is active\n", pos[0], pos[1], n)
		return nil
	case "diff":
		if err := need(4, "diff NAME LOCALE A B"); err != nil {
			return err
		}
		return c.diff(stdout, pos[0], pos[1], pos[2], pos[3])
	case "edit":
		if err := need(2, "edit NAME LOCALE"); err != nil {
			return err
		}
		return c.edit(stdout, stderr, getenv, pos[0], pos[1])
	}
	return fmt.Errorf("unknown templates command %q\n%s", args[0], templatesUsage)
}

// parseInterleaved parses flags that may come after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func tplPath(name, locale string, rest ...string) string {
	p := "/v1/templates/" + url.PathEscape(name) + "/" + url.PathEscape(locale)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

type tplClient struct {
	ctx  context.Context
	base string
	key  string
	http *http.Client
}

// apiError is the server's error answer.
type apiError struct {
	Status   int
	Code     string `json:"code"`
	Message  string `json:"message"`
	Problems []struct {
		Part   string `json:"part"`
		Line   int    `json:"line"`
		Column int    `json:"column"`
		Reason string `json:"reason"`
	} `json:"problems"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 0 {
		return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
	}
	fmt.Fprintf(&b, "%s (%d):", e.Code, e.Status)
	for _, p := range e.Problems {
		if p.Column > 0 {
			fmt.Fprintf(&b, "\n  %s, line %d, column %d: %s", p.Part, p.Line, p.Column, p.Reason)
		} else {
			fmt.Fprintf(&b, "\n  %s, line %d: %s", p.Part, p.Line, p.Reason)
		}
	}
	return b.String()
}

// do sends body as JSON and decodes the answer into out.
func (c *tplClient) do(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("is the server running at %s (BECKON_URL)? %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error apiError }
		if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type tplVersion struct {
	Version   int       `json:"version"`
	Active    bool      `json:"active"`
	Subject   *string   `json:"subject"`
	Text      string    `json:"text"`
	HTML      *string   `json:"html"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

type tplDetail struct {
	ActiveVersion int          `json:"active_version"`
	Versions      []tplVersion `json:"versions"`
	History       []struct {
		Version int       `json:"version"`
		Action  string    `json:"action"`
		By      string    `json:"by"`
		At      time.Time `json:"at"`
	} `json:"history"`
}

func (c *tplClient) list(w io.Writer) error {
	var l struct {
		Items []struct {
			Name      string    `json:"name"`
			Locale    string    `json:"locale"`
			Active    int       `json:"active_version"`
			Latest    int       `json:"latest_version"`
			UpdatedAt time.Time `json:"updated_at"`
		} `json:"items"`
	}
	if err := c.do("GET", "/v1/templates", nil, &l); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLOCALE\tACTIVE\tLATEST\tUPDATED")
	for _, it := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", it.Name, it.Locale, it.Active, it.Latest, it.UpdatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func (c *tplClient) detail(name, locale string) (tplDetail, error) {
	var d tplDetail
	err := c.do("GET", tplPath(name, locale), nil, &d)
	return d, err
}

// version returns version n (0: the active one).
func (d tplDetail) version(n int) (tplVersion, error) {
	if n == 0 {
		n = d.ActiveVersion
	}
	for _, v := range d.Versions {
		if v.Version == n {
			return v, nil
		}
	}
	return tplVersion{}, fmt.Errorf("no version %d", n)
}

// fileOf writes a version in the template file format.
func fileOf(v tplVersion) string {
	var b strings.Builder
	part := func(name, body string) {
		fmt.Fprintf(&b, "=== %s ===\n%s\n", name, body)
	}
	if v.Subject != nil {
		part("subject", *v.Subject)
	}
	part("text", v.Text)
	if v.HTML != nil {
		part("html", *v.HTML)
	}
	return b.String()
}

// fileError is a template file that cannot be read as parts.
type fileError struct{ error }

var partLine = regexp.MustCompile(`(?m)^=== (subject|text|html) ===\r?\n`)

// partsOf reads the template file format.
func partsOf(file string) (map[string]string, error) {
	locs := partLine.FindAllStringSubmatchIndex(file, -1)
	if len(locs) == 0 {
		return nil, fileError{errors.New(`the file has no "=== text ===" line`)}
	}
	if strings.TrimSpace(file[:locs[0][0]]) != "" {
		return nil, fileError{errors.New(`the file must start with a "=== part ===" line (or "# " comments)`)}
	}
	out := map[string]string{}
	for i, l := range locs {
		end := len(file)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		name := file[l[2]:l[3]]
		if _, dup := out[name]; dup {
			return nil, fileError{fmt.Errorf("the %s part appears twice", name)}
		}
		out[name] = strings.TrimRight(file[l[1]:end], "\n")
	}
	return out, nil
}

func (c *tplClient) show(w io.Writer, name, locale string, n int) error {
	d, err := c.detail(name, locale)
	if err != nil {
		return err
	}
	v, err := d.version(n)
	if err != nil {
		return err
	}
	state := "not active"
	if v.Active {
		state = "active"
	}
	fmt.Fprintf(w, "# %s %s version %d (%s), saved by %s at %s\n", name, locale, v.Version, state, v.CreatedBy, v.CreatedAt.Format(time.RFC3339))
	fmt.Fprintln(w, "# history:")
	for _, h := range d.History {
		fmt.Fprintf(w, "#   %s  version %d %s by %s\n", h.At.Format(time.RFC3339), h.Version, h.Action, h.By)
	}
	fmt.Fprint(w, fileOf(v))
	return nil
}

// put saves a template file as the next version and returns its number.
func (c *tplClient) put(name, locale, file string) (int, error) {
	// "# " lines before the first part are comments (show prints some).
	var kept []string
	for _, l := range strings.SplitAfter(file, "\n") {
		if len(kept) == 0 && strings.HasPrefix(l, "#") {
			continue
		}
		kept = append(kept, l)
	}
	parts, err := partsOf(strings.Join(kept, ""))
	if err != nil {
		return 0, err
	}
	var v tplVersion
	if err := c.do("PUT", tplPath(name, locale), parts, &v); err != nil {
		return 0, err
	}
	return v.Version, nil
}

func (c *tplClient) preview(w io.Writer, name, locale string, n int, dataFile, out string) error {
	body := map[string]any{}
	if n > 0 {
		body["version"] = n
	}
	if dataFile != "" {
		b, err := os.ReadFile(dataFile)
		if err != nil {
			return err
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("%s: %w", dataFile, err)
		}
		body["data"] = d
	}
	var p struct {
		Version        int      `json:"version"`
		Subject        *string  `json:"subject"`
		Text           string   `json:"text"`
		HTML           *string  `json:"html"`
		Encoding       string   `json:"encoding"`
		Segments       int      `json:"segments"`
		UCS2Characters []string `json:"ucs2_characters"`
	}
	if err := c.do("POST", tplPath(name, locale, "preview"), body, &p); err != nil {
		return err
	}
	fmt.Fprintf(w, "# %s %s version %d\n", name, locale, p.Version)
	if p.Subject != nil {
		fmt.Fprintf(w, "Subject: %s\n\n", *p.Subject)
	}
	fmt.Fprintln(w, p.Text)
	if p.Encoding != "" {
		fmt.Fprintf(w, "\n# %s, %d segment(s)", p.Encoding, p.Segments)
		if len(p.UCS2Characters) > 0 {
			fmt.Fprintf(w, "; UCS-2 because of: %s", strings.Join(p.UCS2Characters, " "))
		}
		fmt.Fprintln(w)
	}
	if out != "" {
		if p.HTML == nil {
			return fmt.Errorf("%s has no HTML part to write to %s", name, out)
		}
		if err := os.WriteFile(out, []byte(*p.HTML), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "# HTML written to %s\n", out)
	}
	return nil
}

func (c *tplClient) diff(w io.Writer, name, locale, a, b string) error {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	if errA != nil || errB != nil || na < 1 || nb < 1 {
		return errors.New("A and B must be version numbers")
	}
	d, err := c.detail(name, locale)
	if err != nil {
		return err
	}
	va, err := d.version(na)
	if err != nil {
		return err
	}
	vb, err := d.version(nb)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "--- %s %s version %d\n+++ %s %s version %d\n", name, locale, na, name, locale, nb)
	for _, l := range lineDiff(strings.Split(fileOf(va), "\n"), strings.Split(fileOf(vb), "\n")) {
		fmt.Fprintln(w, l)
	}
	return nil
}

// lineDiff returns b against a, line by line (longest common subsequence):
// " " kept, "-" only in a, "+" only in b.
func lineDiff(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, " "+a[i])
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, "+"+b[j])
			j++
		default:
			out = append(out, "-"+a[i])
			i++
		}
	}
	return out
}

// edit opens the active version in $EDITOR and saves what comes back as
// the next version; a refused version's problems are shown and the editor
// opens again, until the file is valid or left unchanged (abandoned).
func (c *tplClient) edit(stdout, stderr io.Writer, getenv func(string) string, name, locale string) error {
	editor := getenv("VISUAL")
	if editor == "" {
		editor = getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	d, err := c.detail(name, locale)
	if err != nil {
		return err
	}
	v, err := d.version(0)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "beckon-template-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, strings.ReplaceAll(name, ".", "-")+"."+locale+".tmpl")
	before := fileOf(v)
	if err := os.WriteFile(path, []byte(before), 0o600); err != nil {
		return err
	}
	for {
		cmd := exec.CommandContext(c.ctx, "sh", "-c", editor+` "$1"`, "editor", path)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("editor %q: %w", editor, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		after := string(b)
		if after == before {
			fmt.Fprintln(stderr, "unchanged: nothing saved")
			return nil
		}
		n, err := c.put(name, locale, after)
		if err == nil {
			fmt.Fprintf(stdout, "created %s %s version %d (not active: beckon templates activate %s %s %d)\n", name, locale, n, name, locale, n)
			return nil
		}
		var ae *apiError
		var fe fileError
		if !errors.As(err, &fe) && (!errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity && ae.Status != http.StatusBadRequest) {
			return err
		}
		fmt.Fprintf(stderr, "refused: %v\nedit again (leave the file unchanged to give up)\n", err)
		before = after
	}
}
