package main

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/contactsync"
	"github.com/beckon-chat/beckon/internal/app"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/notify/twilio"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/spam"
	"github.com/beckon-chat/beckon/store"
)

// config is what the environment says; every key is in .env.example with
// the default written in loadConfig.
type config = app.Config

func loadConfig(getenv func(string) string) (config, error) {
	get := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	c := config{
		Addr:        get("BECKON_ADDR", "127.0.0.1:8080"),
		DatabaseURL: get("BECKON_DATABASE_URL", "sqlite://./beckon.db"),
		RedisURL:    get("BECKON_REDIS_URL", ""),
		RedisCAFile: get("BECKON_REDIS_CA_FILE", ""),
		LogLevel:    get("BECKON_LOG_LEVEL", "info"),
		LogFormat:   get("BECKON_LOG_FORMAT", "json"),
	}
	var errs []string
	parseInt := func(key, def string) int64 {
		n, err := strconv.ParseInt(get(key, def), 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be a positive whole number", key))
		}
		return n
	}
	parseLimit := func(key, def string) ratelimit.Limit {
		l, err := ratelimit.ParseLimit(get(key, def))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", key, err))
		}
		return l
	}
	c.DBMaxConns = int(parseInt("BECKON_DB_MAX_CONNS", "4"))
	c.DatabaseReadURLs = store.SplitURLs(get("BECKON_DATABASE_READ_URL", ""))
	for _, u := range c.DatabaseReadURLs {
		if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			errs = append(errs, "BECKON_DATABASE_READ_URL must be postgres:// URLs, separated by commas")
			break
		}
	}
	if len(c.DatabaseReadURLs) > 0 && strings.HasPrefix(c.DatabaseURL, "sqlite:") {
		errs = append(errs, "BECKON_DATABASE_READ_URL needs a PostgreSQL BECKON_DATABASE_URL")
	}
	maxLag, err := time.ParseDuration(get("BECKON_DATABASE_READ_MAX_LAG", "500ms"))
	if err != nil || maxLag < time.Millisecond {
		errs = append(errs, "BECKON_DATABASE_READ_MAX_LAG must be a duration of at least 1ms, such as 500ms")
	}
	c.ReadMaxLag = maxLag
	c.MaxImportBytes = parseInt("BECKON_IMPORT_MAX_BYTES", "2147483648")
	auto, err := strconv.ParseBool(get("BECKON_AUTO_MIGRATE", "true"))
	if err != nil {
		errs = append(errs, "BECKON_AUTO_MIGRATE must be true or false")
	}
	c.AutoMigrate = auto
	ttl, err := time.ParseDuration(get("BECKON_KEY_CACHE_TTL", "10s"))
	if err != nil || ttl < 0 {
		errs = append(errs, "BECKON_KEY_CACHE_TTL must be a duration such as 10s (0 disables the cache)")
	}
	c.KeyCacheTTL = ttl
	c.PublicURL = strings.TrimRight(get("BECKON_PUBLIC_URL", "http://127.0.0.1:8080"), "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, "BECKON_PUBLIC_URL must be an http(s) URL")
	}
	inviteTTL, err := time.ParseDuration(get("BECKON_INVITE_TTL", "336h"))
	if err != nil || inviteTTL < time.Hour {
		errs = append(errs, "BECKON_INVITE_TTL must be a duration of at least 1h, such as 336h")
	}
	c.InviteTTL = inviteTTL
	c.InviteLimits = invite.Limits{
		PerInviterMinute: parseLimit("BECKON_INVITE_LIMIT_PER_INVITER", "10/m"),
		PerTenantDay:     parseLimit("BECKON_INVITE_LIMIT_PER_TENANT", "5000/d"),
		PerRecipientDay:  parseLimit("BECKON_INVITE_LIMIT_PER_RECIPIENT", "3/d"),
		SMSPerCountry:    parseLimit("BECKON_INVITE_LIMIT_SMS_PER_COUNTRY", "500/h"),
	}
	budget, err := strconv.Atoi(get("BECKON_SMS_TENANT_DAILY_BUDGET", "1000"))
	if err != nil || budget < 0 {
		errs = append(errs, "BECKON_SMS_TENANT_DAILY_BUDGET must be a whole number (0: no budget)")
	}
	c.SMSTenantDailyBudget = budget
	coolOff, err := time.ParseDuration(get("BECKON_SMS_PREFIX_COOLOFF", "3h"))
	if err != nil || coolOff < time.Minute {
		errs = append(errs, "BECKON_SMS_PREFIX_COOLOFF must be a duration of at least 1m, such as 3h")
	}
	c.SMSPrefixCoolOff = coolOff
	c.SMSPrefixMinRecent = int(parseInt("BECKON_SMS_PREFIX_MIN_RECENT", "30"))
	repTTL, err := time.ParseDuration(get("BECKON_REPUTATION_CACHE_TTL", "30s"))
	if err != nil || repTTL < 0 {
		errs = append(errs, "BECKON_REPUTATION_CACHE_TTL must be a duration such as 30s (0: no cache)")
	}
	c.ReputationCacheTTL = repTTL
	c.SMTPURL = get("BECKON_SMTP_URL", "")
	c.SMTPCAFile = get("BECKON_SMTP_CA_FILE", "")
	c.MailFrom = get("BECKON_MAIL_FROM", "Beckon <no-reply@localhost>")
	c.DevOutbox = get("BECKON_DEV_OUTBOX", "./outbox")
	c.Workers = int(parseInt("BECKON_WORKERS", "2"))
	lease, err := time.ParseDuration(get("BECKON_DELIVERY_LEASE", "2m"))
	if err != nil || lease < time.Second {
		errs = append(errs, "BECKON_DELIVERY_LEASE must be a duration of at least 1s, such as 2m")
	}
	c.Lease = lease
	c.Twilio = twilio.Config{
		AccountSID: get("TWILIO_ACCOUNT_SID", ""), AuthToken: get("TWILIO_AUTH_TOKEN", ""),
		From: get("TWILIO_FROM", ""), MessagingServiceSID: get("TWILIO_MESSAGING_SERVICE_SID", ""),
		APIURL: get("BECKON_TWILIO_API_URL", ""), StatusCallback: c.PublicURL + "/webhooks/twilio/status",
	}
	if err := c.Twilio.Validate(); err != nil {
		errs = append(errs, strings.Split(err.Error(), "\n")...)
	}
	c.ProductName = get("BECKON_PRODUCT_NAME", "Beckon")
	if utf8.RuneCountInString(c.ProductName) > 40 || strings.ContainsAny(c.ProductName, "<>\r\n") {
		errs = append(errs, "BECKON_PRODUCT_NAME must be at most 40 characters, without <, > or line breaks")
	}
	c.SignupURL = get("BECKON_SIGNUP_URL", "")
	c.DevSignup = c.SignupURL == ""
	c.WebhookURL = get("BECKON_WEBHOOK_URL", "")
	c.WebhookSecret = get("BECKON_WEBHOOK_SECRET", "")
	if c.WebhookURL != "" && len(c.WebhookSecret) < 16 {
		errs = append(errs, "BECKON_WEBHOOK_SECRET must be at least 16 characters when BECKON_WEBHOOK_URL is set")
	}
	if c.DevSignup {
		c.SignupURL = c.PublicURL + "/signup"
	}
	dups := parseLimit("BECKON_SPAM_DUPLICATES", "5/h")
	fresh := parseLimit("BECKON_SPAM_NEW_RECIPIENTS", "20/h")
	c.Spam = app.SpamConfig{
		Limits: spam.Limits{DuplicateRecipients: dups.Rate, DuplicateWindow: dups.Period,
			NewRecipients: fresh.Rate, NewRecipientWindow: fresh.Period},
		HookURL:           get("BECKON_SPAM_HOOK_URL", ""),
		HookSecret:        get("BECKON_SPAM_HOOK_SECRET", ""),
		FingerprintSecret: get("BECKON_SPAM_FINGERPRINT_SECRET", ""),
	}
	if s := c.Spam.FingerprintSecret; s != "" && len(s) < 16 {
		errs = append(errs, "BECKON_SPAM_FINGERPRINT_SECRET must be at least 16 characters (empty: a random key kept in the database)")
	}
	if u, err := url.Parse(c.Spam.HookURL); c.Spam.HookURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, "BECKON_SPAM_HOOK_URL must be an http(s) URL")
	}
	if c.Spam.HookURL != "" && len(c.Spam.HookSecret) < 16 {
		errs = append(errs, "BECKON_SPAM_HOOK_SECRET must be at least 16 characters when BECKON_SPAM_HOOK_URL is set")
	}
	hookTimeout, err := time.ParseDuration(get("BECKON_SPAM_HOOK_TIMEOUT", "300ms"))
	if err != nil || hookTimeout < time.Millisecond || hookTimeout > 10*time.Second {
		errs = append(errs, "BECKON_SPAM_HOOK_TIMEOUT must be a duration from 1ms to 10s, such as 300ms")
	}
	c.Spam.HookTimeout = hookTimeout
	switch get("BECKON_SPAM_HOOK_FAILURE", "open") {
	case "open":
	case "closed":
		c.Spam.HookFailClosed = true
	default:
		errs = append(errs, "BECKON_SPAM_HOOK_FAILURE must be open (a message the hook gives no answer for is delivered) or closed (it is spam)")
	}
	domainsTTL, err := time.ParseDuration(get("BECKON_SPAM_DOMAINS_TTL", "5s"))
	if err != nil || domainsTTL < 100*time.Millisecond || domainsTTL > time.Hour {
		errs = append(errs, "BECKON_SPAM_DOMAINS_TTL must be a duration from 100ms to 1h, such as 5s")
	}
	c.Spam.DomainsTTL = domainsTTL
	c.PprofAddr = get("BECKON_PPROF_ADDR", "")
	if c.PprofAddr != "" && c.PprofAddr == c.Addr {
		errs = append(errs, "BECKON_PPROF_ADDR must differ from BECKON_ADDR: profiles are never served on the public listener")
	}
	c.Limits = api.Limits{
		PerKey:       parseLimit("BECKON_LIMIT_PER_KEY", "200/s"),
		PerRequester: parseLimit("BECKON_LIMIT_RESOLVE_PER_REQUESTER", "600/h"),
		PerIP:        parseLimit("BECKON_LIMIT_PER_IP", "60/m"),
	}
	c.ContactSyncSecret = get("BECKON_CONTACT_SYNC_SECRET", "")
	if c.ContactSyncSecret != "" && len(c.ContactSyncSecret) < contactsync.MinSecret {
		errs = append(errs, fmt.Sprintf("BECKON_CONTACT_SYNC_SECRET must be at least %d characters (empty: one is generated and kept in the database)", contactsync.MinSecret))
	}
	window, err := time.ParseDuration(get("BECKON_CONTACT_SYNC_TTL", "720h"))
	if err != nil || window < time.Hour {
		errs = append(errs, "BECKON_CONTACT_SYNC_TTL must be a duration of at least 1h, such as 720h")
	}
	c.ContactSyncTTL = window
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, "BECKON_LOG_FORMAT must be json or text")
	}
	for _, p := range strings.Split(get("BECKON_TRUSTED_PROXIES", ""), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			errs = append(errs, fmt.Sprintf("BECKON_TRUSTED_PROXIES: %q is not a CIDR such as 10.0.0.0/8", p))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}
