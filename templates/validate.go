package templates

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

	"golang.org/x/net/html"

	"github.com/beckon-chat/beckon/fault"
)

// Source is one version of a template as ops write it. SMS templates use
// Text only.
type Source struct {
	Subject string
	Text    string
	HTML    string
}

// The parts of a template.
const (
	PartSubject = "subject"
	PartText    = "text"
	PartHTML    = "html"
)

// Parts returns the parts template name has, or nil for an unknown name.
func Parts(name string) []string {
	switch name {
	case InviteEmail, ReminderEmail:
		return []string{PartSubject, PartText, PartHTML}
	case InviteSMS:
		return []string{PartText}
	}
	return nil
}

// Names lists the template names.
func Names() []string { return []string{InviteEmail, InviteSMS, ReminderEmail} }

// MaxSMSSegments is how many segments an SMS may take with worst-case data.
const MaxSMSSegments = 3

// Functions are the functions a template may call; text/template's other
// built-ins (call, index, slice, html, js, urlquery, printf's kin) are
// refused.
var Functions = []string{"and", "or", "not", "eq", "ne", "len", "print"}

// Problem is one reason a template is refused: the part, the line and
// column (1-based; 0 when not known) and the reason.
type Problem = fault.Problem

// errInvalid is the fault of a refused template; its Problems say why.
func errInvalid(probs []Problem) error {
	p := probs[0]
	msg := fmt.Sprintf("%s, line %d: %s", p.Part, p.Line, p.Reason)
	if p.Column > 0 {
		msg = fmt.Sprintf("%s, line %d, column %d: %s", p.Part, p.Line, p.Column, p.Reason)
	}
	if len(probs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(probs)-1)
	}
	f := fault.New(fault.Unprocessable, fault.CodeTemplateInvalid, p.Part, msg)
	f.Problems = probs
	return f
}

// dataFields are the fields of Data, which is what a template may use.
var dataFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[Data]()
	for i := range t.NumField() {
		m[t.Field(i).Name] = true
	}
	return m
}()

// Variables lists what a template may use ({{.InviterName}}, …).
func Variables() []string {
	out := make([]string, 0, len(dataFields))
	for k := range dataFields {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// compiled is one version of a template, parsed.
type compiled struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// parseText parses a text part; a parse error is a Problem.
func parseText(part, src string) (*texttemplate.Template, []Problem) {
	t, err := texttemplate.New(part).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, []Problem{problemOf(part, err)}
	}
	return t, nil
}

func parseHTML(src string) (*htmltemplate.Template, []Problem) {
	t, err := htmltemplate.New(PartHTML).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, []Problem{problemOf(PartHTML, err)}
	}
	return t, nil
}

// compile parses src's parts for template name without judging them.
func compile(name string, src Source) (compiled, []Problem) {
	var c compiled
	var probs []Problem
	for _, part := range Parts(name) {
		s := src.part(part)
		if strings.TrimSpace(s) == "" {
			probs = append(probs, Problem{Part: part, Line: 1, Reason: "the part is empty"})
			continue
		}
		var p []Problem
		switch part {
		case PartSubject:
			c.subject, p = parseText(part, s)
		case PartText:
			c.text, p = parseText(part, s)
		case PartHTML:
			c.html, p = parseHTML(s)
		}
		probs = append(probs, p...)
	}
	return c, probs
}

func (s Source) part(p string) string {
	switch p {
	case PartSubject:
		return s.Subject
	case PartText:
		return s.Text
	}
	return s.HTML
}

// Normalize drops the trailing line ends of every part (an editor adds
// one) and the parts name does not have.
func Normalize(name string, s Source) Source {
	var out Source
	for _, p := range Parts(name) {
		v := strings.TrimRight(strings.ReplaceAll(s.part(p), "\r\n", "\n"), "\n")
		switch p {
		case PartSubject:
			out.Subject = v
		case PartText:
			out.Text = v
		case PartHTML:
			out.HTML = v
		}
	}
	return out
}

// Validate reports whether src is a template ops may save as name: every
// part parses, uses only Data's fields and Functions, renders with
// worst-case data, carries the invite link; a subject is one line; HTML is
// well-formed and loads nothing from elsewhere; an SMS takes at most
// MaxSMSSegments. worst is the longest data a message may get (see
// WorstCase). The error is an Unprocessable template_invalid fault whose
// Problems name the part, line, column and reason.
func Validate(name string, src Source, worst Data) error {
	if Parts(name) == nil {
		return errUnknownName(name)
	}
	src = Normalize(name, src)
	c, probs := compile(name, src)
	if len(probs) > 0 {
		return errInvalid(probs)
	}
	trees := map[string]*parse.Tree{}
	if c.subject != nil {
		trees[PartSubject] = c.subject.Tree
		if i := strings.IndexByte(src.Subject, '\n'); i >= 0 {
			probs = append(probs, Problem{Part: PartSubject, Line: 2, Column: 1, Reason: "the subject is more than one line"})
		}
	}
	if c.text != nil {
		trees[PartText] = c.text.Tree
	}
	if c.html != nil {
		trees[PartHTML] = c.html.Tree
		probs = append(probs, checkHTML(src.HTML)...)
	}
	for _, part := range Parts(name) {
		if tr := trees[part]; tr != nil {
			probs = append(probs, checkTree(part, tr)...)
		}
	}
	if len(probs) > 0 {
		return errInvalid(probs)
	}
	// Render both branches of what a template may test: with and without
	// a chat title, external or not.
	variants := []Data{worst, worst}
	variants[1].ChatTitle, variants[1].ChatKind, variants[1].External = "", "one_on_one", false
	for _, d := range variants {
		r, p := c.render(d)
		if p != nil {
			return errInvalid([]Problem{*p})
		}
		for _, part := range Parts(name) {
			if part == PartSubject {
				if strings.ContainsAny(r.Subject, "\r\n") {
					probs = append(probs, Problem{Part: part, Line: 1, Reason: "the subject renders to more than one line"})
				}
				continue
			}
			out := r.Text
			if part == PartHTML {
				out = r.HTML
			}
			if !strings.Contains(out, d.Link) {
				probs = append(probs, Problem{Part: part, Line: 1, Reason: "the invite link {{.Link}} is missing" + branch(d)})
			}
		}
		if name == InviteSMS {
			if enc, n, _ := SMSInfo(r.Text); n > MaxSMSSegments {
				probs = append(probs, Problem{Part: PartText, Line: 1, Reason: fmt.Sprintf("the SMS takes %d segments (%s) with worst-case data%s; at most %d", n, enc, branch(d), MaxSMSSegments)})
			}
		}
		if len(probs) > 0 {
			return errInvalid(probs)
		}
	}
	return nil
}

func branch(d Data) string {
	if d.ChatTitle == "" {
		return " (for a one-to-one chat with an inviter of the same organisation)"
	}
	return ""
}

// render executes every part of c with d; an execution error is a Problem.
func (c compiled) render(d Data) (Rendered, *Problem) {
	var r Rendered
	var b bytes.Buffer
	for _, t := range []*texttemplate.Template{c.subject, c.text} {
		if t == nil {
			continue
		}
		b.Reset()
		if err := t.Execute(&b, d); err != nil {
			p := problemOf(t.Name(), err)
			return r, &p
		}
		if t == c.subject {
			r.Subject = b.String()
		} else {
			r.Text = b.String()
		}
	}
	if c.html != nil {
		b.Reset()
		if err := c.html.Execute(&b, d); err != nil {
			p := problemOf(PartHTML, err)
			return r, &p
		}
		r.HTML = b.String()
	}
	return r, nil
}

// errPos finds "NAME:LINE:COL: reason" or "NAME:LINE: reason" in the
// errors of text/template and html/template.
var errPos = regexp.MustCompile(`^(?:template|html/template): ?(?:subject|text|html):(\d+)(?::(\d+))?: (.*)$`)

// problemOf turns a parse or execution error of part into a Problem.
func problemOf(part string, err error) Problem {
	var he *htmltemplate.Error
	if errors.As(err, &he) {
		return Problem{Part: part, Line: max(he.Line, 1), Reason: he.Description}
	}
	msg := err.Error()
	m := errPos.FindStringSubmatch(msg)
	if m == nil {
		return Problem{Part: part, Line: 1, Reason: msg}
	}
	p := Problem{Part: part, Reason: m[3]}
	p.Line, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		p.Column, _ = strconv.Atoi(m[2])
		p.Column++
	}
	// "executing "text" at <.Foo>: can't evaluate ..." → the part after the node.
	if _, after, ok := strings.Cut(p.Reason, ">: "); ok && strings.HasPrefix(p.Reason, "executing ") {
		p.Reason = after
	}
	return p
}

// checkTree walks a parse tree for unknown variables and functions.
func checkTree(part string, tr *parse.Tree) []Problem {
	var probs []Problem
	at := func(n parse.Node, reason string) {
		p := Problem{Part: part, Reason: reason, Line: 1}
		loc, _ := tr.ErrorContext(n)
		// loc is "name:line:col" with a 0-based byte column.
		f := strings.Split(loc, ":")
		if len(f) >= 3 {
			p.Line, _ = strconv.Atoi(f[len(f)-2])
			c, _ := strconv.Atoi(f[len(f)-1])
			p.Column = c + 1
		}
		probs = append(probs, p)
	}
	field := func(n parse.Node, idents []string) {
		if len(idents) == 0 {
			return
		}
		if !dataFields[idents[0]] {
			at(n, fmt.Sprintf("unknown variable .%s (known: %s)", idents[0], strings.Join(Variables(), ", ")))
		} else if len(idents) > 1 {
			at(n, fmt.Sprintf(".%s has no field %s", idents[0], idents[1]))
		}
	}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case nil:
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			at(n, "range is not allowed: no variable is a list")
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			at(n, "{{template}} is not allowed")
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			field(n, n.Ident)
		case *parse.ChainNode:
			walk(n.Node)
			if _, ok := n.Node.(*parse.PipeNode); ok {
				at(n, "field access on a pipeline is not allowed")
			}
		case *parse.VariableNode:
			if n.Ident[0] == "$" {
				field(n, n.Ident[1:])
			}
		case *parse.IdentifierNode:
			if !slices.Contains(Functions, n.Ident) {
				at(n, fmt.Sprintf("function %s is not allowed (allowed: %s)", n.Ident, strings.Join(Functions, ", ")))
			}
		}
	}
	walk(tr.Root)
	return probs
}

// voidElements have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// forbiddenElements run code, load from elsewhere or leave the message.
var forbiddenElements = map[string]string{
	"script": "runs script", "iframe": "loads a page from elsewhere", "frame": "loads a page from elsewhere",
	"object": "loads from elsewhere", "embed": "loads from elsewhere", "link": "loads from elsewhere",
	"base": "changes where links lead", "form": "sends a form", "img": "loads an image from elsewhere",
	"video": "loads from elsewhere", "audio": "loads from elsewhere", "source": "loads from elsewhere",
	"picture": "loads from elsewhere", "svg": "may load from elsewhere", "math": "is not allowed",
	"applet": "loads from elsewhere", "meta": "is not allowed in a message", "portal": "loads from elsewhere",
}

// loadingAttributes fetch a resource.
var loadingAttributes = map[string]bool{"src": true, "srcset": true, "background": true, "poster": true,
	"data": true, "lowsrc": true, "dynsrc": true, "longdesc": true, "action": true, "formaction": true,
	"xlink:href": true, "ping": true, "manifest": true, "codebase": true, "archive": true, "cite": false}

// cssLoads matches CSS that fetches something.
var cssLoads = regexp.MustCompile(`(?i)url\s*\(|@import|expression\s*\(|image-set\s*\(|-moz-binding`)

// blankActions replaces every {{…}} with spaces, line ends kept, so that
// the HTML around actions can be checked where it is in the source.
func blankActions(src string) string {
	b := []byte(src)
	for i := 0; i < len(b); {
		j := bytes.Index(b[i:], []byte("{{"))
		if j < 0 {
			break
		}
		start := i + j
		k := bytes.Index(b[start:], []byte("}}"))
		end := len(b)
		if k >= 0 {
			end = start + k + 2
		}
		for x := start; x < end; x++ {
			if b[x] != '\n' {
				b[x] = ' '
			}
		}
		i = end
	}
	return string(b)
}

// lineCol returns the 1-based line and column of byte offset off in s.
func lineCol(s string, off int) (int, int) {
	off = min(off, len(s))
	line := 1 + strings.Count(s[:off], "\n")
	return line, off - strings.LastIndexByte(s[:off], '\n')
}

// checkHTML checks that an HTML part is well-formed (every element that is
// not void is closed, in order) and loads nothing from elsewhere.
func checkHTML(src string) []Problem {
	blank := blankActions(src)
	z := html.NewTokenizer(strings.NewReader(blank))
	type open struct {
		name string
		off  int
	}
	var stack []open
	var probs []Problem
	off := 0
	add := func(at int, reason string) {
		l, c := lineCol(blank, at)
		probs = append(probs, Problem{Part: PartHTML, Line: l, Column: c, Reason: reason})
	}
	for {
		tt := z.Next()
		raw := len(z.Raw())
		here := off
		off += raw
		switch tt {
		case html.ErrorToken:
			if raw > 0 && strings.TrimSpace(string(z.Raw())) != "" {
				add(here, "the HTML ends inside a tag or comment (a quote or > is missing)")
			}
			for i := len(stack) - 1; i >= 0; i-- {
				add(stack[i].off, fmt.Sprintf("<%s> is never closed", stack[i].name))
			}
			return probs
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if why, bad := forbiddenElements[tag]; bad {
				add(here, fmt.Sprintf("<%s> %s", tag, why))
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				attr := string(k)
				val := strings.TrimSpace(string(v))
				switch {
				case strings.HasPrefix(attr, "on"):
					add(here, fmt.Sprintf("<%s %s> runs script", tag, attr))
				case loadingAttributes[attr]:
					add(here, fmt.Sprintf("<%s %s> loads from elsewhere", tag, attr))
				case attr == "style" && cssLoads.MatchString(val):
					add(here, fmt.Sprintf("<%s style> loads from elsewhere", tag))
				case attr == "href" && strings.HasPrefix(strings.ToLower(val), "javascript:"):
					add(here, fmt.Sprintf("<%s href> runs script", tag))
				}
			}
			if tt == html.StartTagToken && !voidElements[tag] {
				stack = append(stack, open{tag, here})
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case voidElements[tag]:
				add(here, fmt.Sprintf("</%s>: <%s> has no end tag", tag, tag))
			case len(stack) == 0:
				add(here, fmt.Sprintf("</%s> closes nothing", tag))
			case stack[len(stack)-1].name != tag:
				top := stack[len(stack)-1]
				l, _ := lineCol(blank, top.off)
				add(here, fmt.Sprintf("</%s> where <%s> of line %d is still open", tag, top.name, l))
				if i := slices.IndexFunc(stack, func(o open) bool { return o.name == tag }); i >= 0 {
					stack = stack[:i]
				}
			default:
				stack = stack[:len(stack)-1]
			}
		case html.TextToken:
			if len(stack) > 0 && stack[len(stack)-1].name == "style" && cssLoads.Match(z.Raw()) {
				add(here, "<style> loads from elsewhere")
			}
		}
	}
}

// errUnknownName answers a template name that does not exist.
func errUnknownName(name string) error {
	return fault.New(fault.NotFound, fault.CodeTemplateNotFound, "name",
		fmt.Sprintf("no template named %q (known: %s)", name, strings.Join(Names(), ", ")))
}
