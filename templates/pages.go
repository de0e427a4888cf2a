package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
)

//go:embed pages
var pageFiles embed.FS

// Text is the wording of the recipient's pages in one language. Gone
// holds a %s for the product's name: use GoneFor.
type Text struct {
	Title, Invited, External, Group, Warning, Accept, Decline, Block, Stop, Expires        string
	GoneTitle, Gone, DeclinedTitle, Declined, BlockedTitle, Blocked, StoppedTitle, Stopped string
	SignupTitle, SignupDev, Email, Name, Signup, WelcomeTitle, Welcome, WelcomeGroup       string
	BadTicketTitle, BadTicket, FormExpiredTitle, FormExpired, TooManyTitle, TooMany        string
	ErrorTitle, Error, NameMissing                                                         string
}

var pageText = map[string]Text{
	"en": {
		Title: "Invitation", Invited: "You are invited to chat", External: "External", Group: "Group chat:",
		Warning: "This person is outside your organisation. Only accept if you know them. Never share passwords or codes in a chat.",
		Accept:  "Accept and sign up", Decline: "Decline", Block: "Block this person", Stop: "Stop all invitations to this address",
		Expires:       "This invitation expires on",
		GoneTitle:     "Invitation unavailable",
		Gone:          "This invitation link can no longer be opened. If you already accepted the invitation, sign in to %s to continue. Otherwise, ask the person who invited you to send you a new one.",
		DeclinedTitle: "Invitation declined", Declined: "You declined the invitation. The sender is not told why.",
		BlockedTitle: "Blocked", Blocked: "This person can no longer invite you.",
		StoppedTitle: "No more invitations", Stopped: "You will not receive invitations at this address any more.",
		SignupTitle: "Create your account", SignupDev: "Development sign-up page: set BECKON_SIGNUP_URL to use your identity provider.",
		Email: "Email or phone", Name: "Your name", Signup: "Create account",
		WelcomeTitle: "Welcome", Welcome: "Your account is ready and you have joined the chat.",
		WelcomeGroup:     "Your account is ready and you have joined the group chat “%s”.",
		BadTicketTitle:   "Sign-up link not valid",
		BadTicket:        "This sign-up link has been used, has expired, or does not come from an invitation. Open your invitation link again and accept it.",
		FormExpiredTitle: "This page expired", FormExpired: "The page stayed open too long. Open the invitation link again.",
		TooManyTitle: "Too many attempts", TooMany: "Wait a minute, then try again.",
		ErrorTitle: "Something went wrong", Error: "Your request could not be completed. Go back and try again.",
		NameMissing: "Give your name, then try again.",
	},
	"fr": {
		Title: "Invitation", Invited: "Vous êtes invité à discuter", External: "Externe", Group: "Conversation de groupe :",
		Warning: "Cette personne ne fait pas partie de votre organisation. N'acceptez que si vous la connaissez. Ne partagez jamais de mot de passe ni de code dans une conversation.",
		Accept:  "Accepter et s'inscrire", Decline: "Refuser", Block: "Bloquer cette personne", Stop: "Ne plus recevoir d'invitations à cette adresse",
		Expires:       "Cette invitation expire le",
		GoneTitle:     "Invitation indisponible",
		Gone:          "Ce lien d'invitation ne peut plus être ouvert. Si vous avez déjà accepté l'invitation, connectez-vous à %s pour continuer. Sinon, demandez à la personne qui vous a invité de vous en envoyer une nouvelle.",
		DeclinedTitle: "Invitation refusée", Declined: "Vous avez refusé l'invitation. L'expéditeur n'en connaît pas la raison.",
		BlockedTitle: "Personne bloquée", Blocked: "Cette personne ne peut plus vous inviter.",
		StoppedTitle: "Plus d'invitations", Stopped: "Vous ne recevrez plus d'invitations à cette adresse.",
		SignupTitle: "Créez votre compte", SignupDev: "Page d'inscription de développement : définissez BECKON_SIGNUP_URL pour utiliser votre fournisseur d'identité.",
		Email: "E-mail ou téléphone", Name: "Votre nom", Signup: "Créer le compte",
		WelcomeTitle: "Bienvenue", Welcome: "Votre compte est prêt et vous avez rejoint la conversation.",
		WelcomeGroup:     "Votre compte est prêt et vous avez rejoint la conversation de groupe « %s ».",
		BadTicketTitle:   "Lien d'inscription non valide",
		BadTicket:        "Ce lien d'inscription a déjà servi, a expiré ou ne vient pas d'une invitation. Ouvrez à nouveau votre lien d'invitation et acceptez-la.",
		FormExpiredTitle: "Cette page a expiré", FormExpired: "La page est restée ouverte trop longtemps. Ouvrez à nouveau le lien d'invitation.",
		TooManyTitle: "Trop de tentatives", TooMany: "Patientez une minute, puis réessayez.",
		ErrorTitle: "Une erreur s'est produite", Error: "Votre demande n'a pas pu aboutir. Revenez en arrière et réessayez.",
		NameMissing: "Indiquez votre nom, puis réessayez.",
	},
}

// PageLanguage picks the page language: the first of the invite's locale
// and then the Accept-Language entries that the pages speak.
func PageLanguage(locale, acceptLanguage string) string {
	candidates := []string{locale}
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		candidates = append(candidates, tag)
	}
	for _, c := range candidates {
		lang, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(c)), "-")
		if _, ok := pageText[lang]; ok {
			return lang
		}
	}
	return DefaultLocale
}

// Pages renders the recipient's pages.
type Pages struct {
	byName map[string]*htmltemplate.Template
}

// NewPages parses the embedded page templates.
func NewPages() (*Pages, error) {
	p := &Pages{byName: map[string]*htmltemplate.Template{}}
	for _, name := range []string{"landing", "message", "signup"} {
		t, err := htmltemplate.New(name).Option("missingkey=error").ParseFS(pageFiles, "pages/page.html", "pages/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("page %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// PageData is what every page gets; Fields holds the page's own.
type PageData struct {
	Lang string
	// Product is the product the pages name (BECKON_PRODUCT_NAME).
	Product string
	T       Text
	Nonce   string
	CSRF    string
	// Landing
	Token, InviterName, InviterEmail, ChatTitle, ExpiresAt string
	// Message pages
	Heading, Text string
	// Sign-up: the ticket and the identifier it binds
	Ticket, Identifier string
}

// Render renders page name in d.Lang (whose wording it fills in).
func (p *Pages) Render(name string, d PageData) ([]byte, error) {
	t, ok := p.byName[name]
	if !ok {
		return nil, fmt.Errorf("no page %s", name)
	}
	d.T = pageText[d.Lang]
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "page", d); err != nil {
		return nil, fmt.Errorf("render page %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// Wording returns the page wording of a language.
func Wording(lang string) Text { return pageText[lang] }

// GoneFor is the text of the page of a link that no longer opens anything
// (unknown, expired, revoked or used: the same words for all), naming the
// product to sign in to.
func (t Text) GoneFor(product string) string { return fmt.Sprintf(t.Gone, product) }
