package app

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/beckon-chat/beckon/contactsync"
	"github.com/beckon-chat/beckon/notify"
)

// contactSync builds the contact sync service: keyed with
// cfg.ContactSyncSecret, else with a secret generated once and kept in the
// database, so that every node (and every restart) hashes alike.
func (a *App) contactSync(ctx context.Context) (*contactsync.Service, error) {
	secret := []byte(a.cfg.ContactSyncSecret)
	if len(secret) == 0 {
		fresh := make([]byte, 32)
		_, _ = rand.Read(fresh) // never fails (crypto/rand)
		var err error
		if secret, err = a.DB.GeneratedSecret(ctx, "contact_sync", fresh); err != nil {
			return nil, err
		}
		a.log.Warn("no BECKON_CONTACT_SYNC_SECRET: contact sync hashes are keyed with a secret kept in the database; set one in production")
	}
	failures := &notify.FailureLog{Log: a.log, What: "contact sync (resolve charges every entry meanwhile)"}
	return contactsync.New(contactsync.Config{Store: a.DB, Secret: secret, Window: a.cfg.ContactSyncTTL, Observe: failures.Note})
}

// pruneContacts deletes expired contact sync rows now and then every hour
// (every node with workers does; deleting the same rows twice is harmless).
func (a *App) pruneContacts(ctx context.Context) {
	failures := &notify.FailureLog{Log: a.log, What: "contact sync prune"}
	for {
		n, err := a.Contacts.Prune(ctx)
		if ctx.Err() == nil {
			failures.Note(err)
		}
		if n > 0 {
			a.log.Info("contact sync prune", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}
