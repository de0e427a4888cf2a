package templates

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/beckon-chat/beckon/fault"
)

// Used says which template a message was rendered from.
type Used struct {
	Locale  string
	Version int
}

// Version is one saved version of a template in a locale.
type Version struct {
	Name      string
	Locale    string
	Version   int
	Source    Source
	Active    bool
	CreatedBy string
	CreatedAt time.Time
}

// The actions of a template's history.
const (
	ActionCreated   = "created"
	ActionActivated = "activated"
)

// Change is one entry of a template's history: who did what, when.
type Change struct {
	Version int
	Action  string
	By      string
	At      time.Time
}

// Summary is a template in a locale and its active version.
type Summary struct {
	Name          string
	Locale        string
	ActiveVersion int
	LatestVersion int
	UpdatedAt     time.Time
}

// Detail is a template in a locale: its versions, newest first, and its
// history, oldest first.
type Detail struct {
	Name          string
	Locale        string
	ActiveVersion int
	Versions      []Version
	History       []Change
}

// Store keeps template versions.
type Store interface {
	// SeedTemplates saves each of vs as version 1, active, where its name
	// and locale have no version yet.
	SeedTemplates(ctx context.Context, vs []Version) error
	// TemplateGeneration is a number that changes whenever an active
	// version does.
	TemplateGeneration(ctx context.Context) (int64, error)
	// ActiveTemplates returns the active version of every name and locale.
	ActiveTemplates(ctx context.Context) ([]Version, error)
	TemplateSummaries(ctx context.Context) ([]Summary, error)
	// TemplateVersions returns every version, newest first.
	TemplateVersions(ctx context.Context, name, locale string) ([]Version, error)
	// TemplateVersion returns one version, or NotFound
	// template_version_not_found.
	TemplateVersion(ctx context.Context, name, locale string, version int) (Version, error)
	// CreateTemplateVersion saves v under the next version number of its
	// name and locale, not active, and returns it.
	CreateTemplateVersion(ctx context.Context, v Version) (Version, error)
	// ActivateTemplate makes version the active one and changes the
	// generation; NotFound template_version_not_found when there is no
	// such version.
	ActivateTemplate(ctx context.Context, name, locale string, version int, by string, at time.Time) error
	// TemplateHistory returns the changes, oldest first.
	TemplateHistory(ctx context.Context, name, locale string) ([]Change, error)
}

// LibraryConfig is what a Library needs.
type LibraryConfig struct {
	Store Store
	// Product and PublicURL shape the worst-case and sample data.
	Product   string
	PublicURL string
	// Every is how often a node checks for a newly activated version; 0
	// means 500 ms.
	Every time.Duration
	Now   func() time.Time
}

// Library is the templates ops manage: versions in the database, validated
// when saved, previewed, activated. It renders messages from the active
// versions, compiled once and cached; a node sees a new activation within
// Every (a single-number check, no LISTEN, so that it works behind a
// transaction pooler).
type Library struct {
	cfg      LibraryConfig
	defaults *Set
	snap     atomic.Pointer[snapshot]
	checked  atomic.Int64 // unix nanoseconds of the last generation check
}

type snapshot struct {
	gen   int64
	byKey map[string]cachedVersion // "name/locale"
}

type cachedVersion struct {
	c       compiled
	version int
}

// NewLibrary returns a Library; Load fills it.
func NewLibrary(cfg LibraryConfig) (*Library, error) {
	if cfg.Every <= 0 {
		cfg.Every = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Product == "" {
		cfg.Product = "Beckon"
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	d, err := Defaults()
	if err != nil {
		return nil, err
	}
	l := &Library{cfg: cfg, defaults: d}
	l.snap.Store(&snapshot{gen: -1, byKey: map[string]cachedVersion{}})
	return l, nil
}

// Load saves the embedded defaults as version 1 of en and fr where the
// database has none yet, and reads the active versions.
func (l *Library) Load(ctx context.Context) error {
	srcs, err := DefaultSources()
	if err != nil {
		return err
	}
	now := l.cfg.Now().UTC()
	vs := make([]Version, 0, len(srcs))
	for k, s := range srcs {
		vs = append(vs, Version{Name: k.Name, Locale: k.Locale, Version: 1, Source: s, Active: true, CreatedBy: "beckon (default)", CreatedAt: now})
	}
	if err := l.cfg.Store.SeedTemplates(ctx, vs); err != nil {
		return fmt.Errorf("seed templates: %w", err)
	}
	l.checked.Store(now.UnixNano())
	return l.refresh(ctx)
}

// refresh reloads the active versions when the generation changed.
func (l *Library) refresh(ctx context.Context) error {
	gen, err := l.cfg.Store.TemplateGeneration(ctx)
	if err != nil {
		return err
	}
	if gen == l.snap.Load().gen {
		return nil
	}
	vs, err := l.cfg.Store.ActiveTemplates(ctx)
	if err != nil {
		return err
	}
	s := &snapshot{gen: gen, byKey: make(map[string]cachedVersion, len(vs))}
	old := l.snap.Load()
	for _, v := range vs {
		key := v.Name + "/" + v.Locale
		if o, ok := old.byKey[key]; ok && o.version == v.Version {
			s.byKey[key] = o
			continue
		}
		c, probs := compile(v.Name, v.Source)
		if len(probs) > 0 {
			continue // saved versions were validated; the defaults stand in
		}
		s.byKey[key] = cachedVersion{c: c, version: v.Version}
	}
	l.snap.Store(s)
	return nil
}

// current returns the cached versions, checking the generation at most
// once every Every. A failed check keeps the cache: messages still render
// while the database is away.
func (l *Library) current(ctx context.Context) *snapshot {
	now := l.cfg.Now().UnixNano()
	last := l.checked.Load()
	if now-last >= int64(l.cfg.Every) && l.checked.CompareAndSwap(last, now) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = l.refresh(cctx)
		cancel()
	}
	return l.snap.Load()
}

// Message renders template name with the active version of the first
// locale of locale's fallback chain that has one, and says which.
func (l *Library) Message(ctx context.Context, name, locale string, d Data) (Rendered, Used, error) {
	s := l.current(ctx)
	for _, loc := range Locales(locale) {
		cv, ok := s.byKey[name+"/"+loc]
		if !ok {
			continue
		}
		r, p := cv.c.render(d)
		if p != nil {
			return r, Used{}, fmt.Errorf("render %s/%s v%d %s, line %d: %s", name, loc, cv.version, p.Part, p.Line, p.Reason)
		}
		return r, Used{Locale: loc, Version: cv.version}, nil
	}
	return l.defaults.Message(ctx, name, locale, d)
}

var localeRE = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})?$`)

// CanonicalLocale returns a locale in the form templates are kept under
// (fr-CA → fr-ca), or Invalid invalid_locale.
func CanonicalLocale(locale string) (string, error) {
	l := strings.ToLower(strings.ReplaceAll(locale, "_", "-"))
	if !localeRE.MatchString(l) {
		return "", fault.Invalidf(fault.CodeInvalidLocale, "locale", "%q is not a locale such as en, fr or pt-BR", locale)
	}
	return l, nil
}

func checkKey(name, locale string) (string, error) {
	if Parts(name) == nil {
		return "", errUnknownName(name)
	}
	return CanonicalLocale(locale)
}

// WorstCase is the longest data a message may get: names and titles of
// MaxNameRunes characters that force UCS-2, a long address, the longest
// date.
func (l *Library) WorstCase() Data {
	ucs2 := strings.Repeat("êâîôûëïç", MaxNameRunes/8+1)
	ucs2 = string([]rune(ucs2)[:MaxNameRunes])
	link := l.cfg.PublicURL + "/i/" + strings.Repeat("x", 43)
	return Data{Product: l.cfg.Product, InviterName: ucs2, InviterEmail: strings.Repeat("w", 40) + "@" + strings.Repeat("d", 20) + ".example",
		ChatTitle: ucs2, ChatKind: "group", External: true, Link: link, UnsubscribeLink: link + "?stop=1", ExpiresAt: "30 septembre 2026"}
}

// Sample is the data a preview uses unless given other.
func (l *Library) Sample(locale string) Data {
	link := l.cfg.PublicURL + "/i/sample-token"
	return Data{Product: l.cfg.Product, InviterName: "Alice Martin", InviterEmail: "alice@example.com", ChatTitle: "Project Falcon",
		ChatKind: "group", External: true, Link: link, UnsubscribeLink: link + "?stop=1",
		ExpiresAt: FormatDate(l.cfg.Now().Add(14*24*time.Hour), locale)}
}

// Validate checks src as template name with this library's worst-case
// data.
func (l *Library) Validate(name string, src Source) error {
	return Validate(name, src, l.WorstCase())
}

// List returns every name × locale with its active version.
func (l *Library) List(ctx context.Context) ([]Summary, error) {
	return l.cfg.Store.TemplateSummaries(ctx)
}

// Get returns a template in a locale, its versions and its history;
// NotFound template_not_found when the locale has no version of it.
func (l *Library) Get(ctx context.Context, name, locale string) (Detail, error) {
	locale, err := checkKey(name, locale)
	if err != nil {
		return Detail{}, err
	}
	vs, err := l.cfg.Store.TemplateVersions(ctx, name, locale)
	if err != nil {
		return Detail{}, err
	}
	if len(vs) == 0 {
		return Detail{}, fault.New(fault.NotFound, fault.CodeTemplateNotFound, "locale",
			fmt.Sprintf("%s has no version in %s (a PUT creates one)", name, locale))
	}
	h, err := l.cfg.Store.TemplateHistory(ctx, name, locale)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Name: name, Locale: locale, Versions: vs, History: h}
	for _, v := range vs {
		if v.Active {
			d.ActiveVersion = v.Version
		}
	}
	return d, nil
}

// Put validates src and saves it as the next version of name in locale,
// not active.
func (l *Library) Put(ctx context.Context, name, locale string, src Source, by string) (Version, error) {
	locale, err := checkKey(name, locale)
	if err != nil {
		return Version{}, err
	}
	src = Normalize(name, src)
	if err := l.Validate(name, src); err != nil {
		return Version{}, err
	}
	return l.cfg.Store.CreateTemplateVersion(ctx, Version{Name: name, Locale: locale, Source: src, CreatedBy: by, CreatedAt: l.cfg.Now().UTC()})
}

// Activate makes version the active one of name in locale (an older one:
// a rollback). This node sees it at once, the others within Every.
func (l *Library) Activate(ctx context.Context, name, locale string, version int, by string) (Detail, error) {
	locale, err := checkKey(name, locale)
	if err != nil {
		return Detail{}, err
	}
	if err := l.cfg.Store.ActivateTemplate(ctx, name, locale, version, by, l.cfg.Now().UTC()); err != nil {
		return Detail{}, err
	}
	l.checked.Store(0)
	return l.Get(ctx, name, locale)
}

// Preview is a rendered version; for SMS, its encoding, segments and the
// characters that forced UCS-2.
type Preview struct {
	Name     string
	Locale   string
	Version  int
	Rendered Rendered
	SMS      *SMSPreview
}

// SMSPreview is how an SMS travels.
type SMSPreview struct {
	Encoding string
	Segments int
	UCS2     []string
}

// Preview renders version (0: the active one) of name in locale with d
// (nil: sample data). Names and titles in d pass through Sanitize, as in
// a real message.
func (l *Library) Preview(ctx context.Context, name, locale string, version int, d *Data) (Preview, error) {
	locale, err := checkKey(name, locale)
	if err != nil {
		return Preview{}, err
	}
	if version == 0 {
		det, err := l.Get(ctx, name, locale)
		if err != nil {
			return Preview{}, err
		}
		version = det.ActiveVersion
	}
	v, err := l.cfg.Store.TemplateVersion(ctx, name, locale, version)
	if err != nil {
		return Preview{}, err
	}
	data := l.Sample(locale)
	if d != nil {
		data = *d
		data.InviterName, data.ChatTitle = Sanitize(data.InviterName), Sanitize(data.ChatTitle)
	}
	c, probs := compile(name, v.Source)
	if len(probs) > 0 {
		return Preview{}, errInvalid(probs)
	}
	r, p := c.render(data)
	if p != nil {
		return Preview{}, errInvalid([]Problem{*p})
	}
	out := Preview{Name: name, Locale: locale, Version: version, Rendered: r}
	if name == InviteSMS {
		enc, n, chars := SMSInfo(r.Text)
		out.SMS = &SMSPreview{Encoding: enc, Segments: n, UCS2: chars}
	}
	return out, nil
}

// ErrVersionNotFound answers a version that does not exist.
var ErrVersionNotFound = fault.New(fault.NotFound, fault.CodeTemplateVersionNotFound, "version", "no such version of this template")
