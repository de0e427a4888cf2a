package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
)

var epoch = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func open(t *testing.T, e testenv.Engine) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, e.URL, store.Options{Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	applied, err := db.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("migrate: %v %v", applied, err)
	}
	again, err := db.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v", again, err)
	}
	return db
}

func ids(t *testing.T, raw ...string) []resolver.Identifier {
	t.Helper()
	var out []resolver.Identifier
	for _, r := range raw {
		id, err := resolver.Normalize(r, "FR")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func owner(t *testing.T, db *store.DB, id resolver.Identifier, requester string) (resolver.Owner, bool, error) {
	t.Helper()
	owners, err := db.Owners(context.Background(), requester, []resolver.Identifier{id})
	if err != nil {
		return resolver.Owner{}, false, err
	}
	return owners[0], owners[0].Found, nil
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("err = %v; want code %s", err, code)
	}
}

func TestDirectory(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		db := open(t, e)

		pol := directory.DefaultPolicy()
		pol.InboundPersonal = false
		ten, err := db.PutTenant(ctx, directory.Tenant{ID: "contoso", Name: "Contoso", Domains: []string{"contoso.com"}, Region: "FR", Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		if ten.Policy.InboundPersonal || ten.Domains[0] != "contoso.com" || !ten.CreatedAt.Equal(epoch) {
			t.Fatalf("tenant round trip: %+v", ten)
		}
		if _, err := db.Tenant(ctx, "nope"); err != directory.ErrTenantNotFound {
			t.Fatalf("missing tenant: %v", err)
		}

		alice := directory.Account{ID: "alice", TenantID: "contoso", DisplayName: "Alice", Discoverable: true,
			Identifiers: ids(t, "alice@contoso.com", "06 12 34 56 78")}
		got, err := db.PutAccount(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Identifiers) != 2 || got.Identifiers[1].Value != "+33612345678" || got.TenantID != "contoso" {
			t.Fatalf("account round trip: %+v", got)
		}

		t.Run("ErrIdentifierTaken", func(t *testing.T) {
			_, err := db.PutAccount(ctx, directory.Account{ID: "mallory", DisplayName: "M", Identifiers: ids(t, "+33612345678")})
			wantCode(t, err, "identifier_taken")
			if _, err := db.Account(ctx, "mallory"); err != directory.ErrAccountNotFound {
				t.Fatalf("failed put left an account: %v", err)
			}
		})
		t.Run("ErrTenantMissing", func(t *testing.T) {
			_, err := db.PutAccount(ctx, directory.Account{ID: "x", TenantID: "ghost", DisplayName: "X"})
			wantCode(t, err, "tenant_not_found")
		})
		t.Run("ReplaceUnbinds", func(t *testing.T) {
			alice.Identifiers = ids(t, "alice@contoso.com")
			if _, err := db.PutAccount(ctx, alice); err != nil {
				t.Fatal(err)
			}
			if _, found, _ := owner(t, db, ids(t, "+33612345678")[0], "x"); found {
				t.Fatal("phone still bound after replace")
			}
			bob := directory.Account{ID: "bob", DisplayName: "Bob", Discoverable: true, Identifiers: ids(t, "+33612345678", "bob@example.org")}
			if _, err := db.PutAccount(ctx, bob); err != nil {
				t.Fatalf("freed identifier not reusable: %v", err)
			}
		})
		t.Run("OwnerAndRequester", func(t *testing.T) {
			if _, err := db.PutBlock(ctx, "bob", "alice"); err != nil {
				t.Fatal(err)
			}
			o, found, err := owner(t, db, ids(t, "+33612345678")[0], "alice")
			if err != nil || !found {
				t.Fatalf("owner: %v %v", found, err)
			}
			if o.AccountID != "bob" || o.Email != "bob@example.org" || !o.BlockedRequester || !o.InboundPersonal || o.TenantID != "" {
				t.Fatalf("owner by phone: %+v", o)
			}
			o, _, _ = owner(t, db, ids(t, "alice@contoso.com")[0], "bob")
			if o.BlockedRequester || o.InboundPersonal || o.Email != "alice@contoso.com" {
				t.Fatalf("owner by email: %+v", o)
			}
			list, err := db.Owners(ctx, "alice", ids(t, "+33612345678", "nobody@example.com", "alice@contoso.com", "+33612345678"))
			if err != nil || len(list) != 4 {
				t.Fatalf("owners: %v %v", list, err)
			}
			if list[0].AccountID != "bob" || list[1].Found || list[2].AccountID != "alice" || list[3].AccountID != "bob" {
				t.Fatalf("owners out of order: %+v", list)
			}
			req, err := db.Requester(ctx, "alice")
			if err != nil || req.TenantID != "contoso" || req.Region != "FR" || req.TenantDomains[0] != "contoso.com" || !req.OutboundPersonal {
				t.Fatalf("requester: %+v %v", req, err)
			}
			off := false
			if _, err := db.SetOverrides(ctx, "alice", directory.Overrides{OutboundPersonal: &off}); err != nil {
				t.Fatal(err)
			}
			if req, _ := db.Requester(ctx, "alice"); req.OutboundPersonal {
				t.Fatal("override not applied")
			}
			if _, err := db.Requester(ctx, "ghost"); err != directory.ErrAccountNotFound {
				t.Fatalf("missing requester: %v", err)
			}
		})
		t.Run("Discoverable", func(t *testing.T) {
			a, err := db.SetDiscoverable(ctx, "bob", false)
			if err != nil || a.Discoverable {
				t.Fatalf("%+v %v", a, err)
			}
			if _, err := db.SetDiscoverable(ctx, "ghost", false); err != directory.ErrAccountNotFound {
				t.Fatalf("missing: %v", err)
			}
		})
		t.Run("Blocks", func(t *testing.T) {
			if _, err := db.PutBlock(ctx, "bob", "alice"); err != nil {
				t.Fatalf("second block must be a no-op: %v", err)
			}
			_, err := db.PutBlock(ctx, "bob", "ghost")
			wantCode(t, err, "account_not_found")
			list, err := db.Blocks(ctx, "bob", "", 10)
			if err != nil || len(list) != 1 || list[0].BlockedID != "alice" {
				t.Fatalf("blocks: %+v %v", list, err)
			}
			if err := db.DeleteBlock(ctx, "bob", "alice"); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteBlock(ctx, "bob", "alice"); err != directory.ErrBlockNotFound {
				t.Fatalf("second delete: %v", err)
			}
		})
		t.Run("DeleteErases", func(t *testing.T) {
			if _, err := db.PutBlock(ctx, "alice", "bob"); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteAccount(ctx, "bob"); err != nil {
				t.Fatal(err)
			}
			if _, found, _ := owner(t, db, ids(t, "bob@example.org")[0], "alice"); found {
				t.Fatal("identifier survived delete")
			}
			if list, _ := db.Blocks(ctx, "alice", "", 10); len(list) != 0 {
				t.Fatalf("block on deleted account survived: %+v", list)
			}
			if err := db.DeleteAccount(ctx, "bob"); err != directory.ErrAccountNotFound {
				t.Fatalf("second delete: %v", err)
			}
		})
	})
}

func TestImportAccounts(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		db := open(t, e)
		batch := []directory.Account{
			{ID: "a1", DisplayName: "A1", Discoverable: true, Identifiers: ids(t, "a1@example.com")},
			{ID: "a2", DisplayName: "A2", Discoverable: true, Identifiers: ids(t, "a1@example.com")}, // taken by a1 in this batch
			{ID: "a3", DisplayName: "A3", Discoverable: true, Identifiers: ids(t, "a3@example.com", "07 81 23 45 67")},
		}
		errs, err := db.ImportAccounts(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] != nil || errs[2] != nil || fault.CodeOf(errs[1]) != "identifier_taken" {
			t.Fatalf("errs = %v", errs)
		}
		if _, err := db.Account(ctx, "a2"); err != directory.ErrAccountNotFound {
			t.Fatal("a failed line left an account behind")
		}
		a3, err := db.Account(ctx, "a3")
		if err != nil || len(a3.Identifiers) != 2 {
			t.Fatalf("a3: %+v %v", a3, err)
		}

		// In one batch, lines apply in order, as if written one by one.
		second := []directory.Account{
			{ID: "b1", DisplayName: "B1", Identifiers: ids(t, "a3@example.com")},       // a3 still holds it: taken
			{ID: "a3", DisplayName: "A3 again", Identifiers: ids(t, "07 81 23 45 67")}, // a3 lets its email go
			{ID: "b2", DisplayName: "B2", Identifiers: ids(t, "a3@example.com")},       // now free
			{ID: "a1", DisplayName: "A1 first", Identifiers: ids(t, "a1@example.com")}, // replaced below
			{ID: "a1", DisplayName: "A1 last", Identifiers: ids(t, "a1@example.com", "06 12 34 56 78")},
		}
		errs, err = db.ImportAccounts(ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		if fault.CodeOf(errs[0]) != "identifier_taken" || errs[1] != nil || errs[2] != nil || errs[3] != nil || errs[4] != nil {
			t.Fatalf("errs = %v", errs)
		}
		if o, _, _ := owner(t, db, ids(t, "a3@example.com")[0], "x"); o.AccountID != "b2" {
			t.Fatalf("a3@example.com owned by %q; want b2", o.AccountID)
		}
		a1, _ := db.Account(ctx, "a1")
		if a1.DisplayName != "A1 last" || len(a1.Identifiers) != 2 || a1.Identifiers[1].Value != "+33612345678" {
			t.Fatalf("a1: %+v", a1)
		}
		if _, err := db.Account(ctx, "b1"); err != directory.ErrAccountNotFound {
			t.Fatal("b1 was written")
		}
	})
}

func TestKeys(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		svc := auth.NewService(open(t, e), func() time.Time { return epoch }, 0)
		k, secret, err := svc.Create(ctx, "backend", []auth.Scope{auth.ScopeResolve, auth.ScopeDirectory})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "bk_") || len(secret) < 40 {
			t.Fatalf("secret %q", secret)
		}
		got, err := svc.Authenticate(ctx, secret)
		if err != nil || got.ID != k.ID || !got.Has(auth.ScopeDirectory) || got.Has(auth.ScopeAdmin) {
			t.Fatalf("authenticate: %+v %v", got, err)
		}
		if _, _, err := svc.Create(ctx, "backend", []auth.Scope{auth.ScopeResolve}); fault.CodeOf(err) != "key_name_taken" {
			t.Fatalf("duplicate name: %v", err)
		}
		if _, err := svc.Authenticate(ctx, secret+"x"); err != auth.ErrUnauthorized {
			t.Fatalf("wrong secret: %v", err)
		}
		if err := svc.Revoke(ctx, "backend"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, secret); err != auth.ErrUnauthorized {
			t.Fatalf("revoked key still works: %v", err)
		}
		if _, _, err := svc.Create(ctx, "backend", []auth.Scope{auth.ScopeResolve}); err != nil {
			t.Fatalf("name of a revoked key must be reusable: %v", err)
		}
		keys, _ := svc.List(ctx)
		revoked := 0
		for _, k := range keys {
			if k.RevokedAt != nil {
				revoked++
			}
		}
		if len(keys) != 2 || revoked != 1 {
			t.Fatalf("list: %+v", keys)
		}
	})
}

// TestReplaceKey: Replace revokes the active key of that name, if any,
// and makes a new one, in one transaction.
func TestReplaceKey(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		svc := auth.NewService(open(t, e), func() time.Time { return epoch }, 0)
		first, firstSecret, err := svc.Replace(ctx, "backend", []auth.Scope{auth.ScopeResolve})
		if err != nil {
			t.Fatalf("replace with no key of that name: %v", err)
		}
		second, secret, err := svc.Replace(ctx, "backend", []auth.Scope{auth.ScopeDirectory})
		if err != nil || second.ID == first.ID {
			t.Fatalf("replace: %+v %v", second, err)
		}
		if _, err := svc.Authenticate(ctx, firstSecret); err != auth.ErrUnauthorized {
			t.Fatalf("the replaced key still works: %v", err)
		}
		if got, err := svc.Authenticate(ctx, secret); err != nil || got.ID != second.ID || !got.Has(auth.ScopeDirectory) {
			t.Fatalf("the new key: %+v %v", got, err)
		}
		if _, _, err := svc.Replace(ctx, "", []auth.Scope{auth.ScopeResolve}); fault.CodeOf(err) != "invalid_name" {
			t.Fatalf("no name: %v", err)
		}
		keys, _ := svc.List(ctx)
		active := 0
		for _, k := range keys {
			if k.RevokedAt == nil {
				active++
				if k.ID != second.ID {
					t.Fatalf("active: %+v", k)
				}
			}
		}
		if len(keys) != 2 || active != 1 {
			t.Fatalf("list: %+v", keys)
		}
	})
}

func TestKeyCache(t *testing.T) {
	ctx := context.Background()
	now := epoch
	svc := auth.NewService(open(t, testenv.SQLite(t)), func() time.Time { return now }, 10*time.Second)
	_, secret, err := svc.Create(ctx, "cached", []auth.Scope{auth.ScopeResolve})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := svc.Revoke(ctx, "cached"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(9 * time.Second)
	if _, err := svc.Authenticate(ctx, secret); err != nil {
		t.Fatalf("within the TTL the cached key is still accepted: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := svc.Authenticate(ctx, secret); err != auth.ErrUnauthorized {
		t.Fatalf("after the TTL a revoked key must fail: %v", err)
	}
}

// TestOpenSQLiteFolder: Open creates a missing SQLite file but not its
// folder, and says so with the path.
func TestOpenSQLiteFolder(t *testing.T) {
	dir := t.TempDir()
	missing := dir + "/no/such/folder/beckon.db"
	_, err := store.Open(context.Background(), "sqlite://"+missing, store.Options{})
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "folder "+dir+"/no/such/folder does not exist") {
		t.Fatalf("err = %v", err)
	}
	db, err := store.Open(context.Background(), "sqlite://"+dir+"/new.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// TestPoolerOption: the URL's pooler option takes none or transaction;
// transaction with named statements is refused; the errors do not quote
// the URL, which may hold a password.
func TestPoolerOption(t *testing.T) {
	const base = "postgres://beckon:s3cret@127.0.0.1:1/beckon?sslmode=disable"
	for _, c := range []struct{ query, want string }{
		{"&pooler=session", "pooler option must be none or transaction"},
		{"&pooler=transaction&default_query_exec_mode=cache_statement", "named statements do not work through a transaction pooler"},
	} {
		_, err := store.Open(context.Background(), base+c.query, store.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: err = %v; want %q", c.query, err, c.want)
		}
	}
	// Valid options reach the connection, which fails: nothing listens.
	for _, q := range []string{"&pooler=none", "&pooler=transaction", "&pooler=transaction&default_query_exec_mode=exec"} {
		_, err := store.Open(context.Background(), base+q, store.Options{})
		if err == nil || !strings.Contains(err.Error(), "connect to postgres") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: err = %v", q, err)
		}
	}
}
