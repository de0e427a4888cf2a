package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/templates"
	"github.com/jmoiron/sqlx"
)

var _ templates.Store = (*DB)(nil)

type templateRow struct {
	Name      string `db:"name"`
	Locale    string `db:"locale"`
	Version   int    `db:"version"`
	Subject   string `db:"subject"`
	Text      string `db:"body_text"`
	HTML      string `db:"body_html"`
	CreatedBy string `db:"created_by"`
	CreatedAt dbTime `db:"created_at"`
	Active    int    `db:"active"`
}

func (r templateRow) version() templates.Version {
	return templates.Version{Name: r.Name, Locale: r.Locale, Version: r.Version,
		Source:    templates.Source{Subject: r.Subject, Text: r.Text, HTML: r.HTML},
		Active:    r.Active == 1,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.Time}
}

// SeedTemplates saves each of vs as version 1, active, where its name and
// locale have no version yet. Several nodes may do it at once.
func (d *DB) SeedTemplates(ctx context.Context, vs []templates.Version) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		seeded := false
		for _, v := range vs {
			res, err := tx.ExecContext(ctx, d.query("seed-template-version"), v.Name, v.Locale, v.Source.Subject, v.Source.Text,
				v.Source.HTML, v.CreatedBy, d.timeArg(v.CreatedAt))
			if err != nil {
				return fmt.Errorf("seed template %s/%s: %w", v.Name, v.Locale, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			seeded = true
			if _, err := tx.ExecContext(ctx, d.query("seed-template-active"), v.Name, v.Locale); err != nil {
				return fmt.Errorf("seed template %s/%s: %w", v.Name, v.Locale, err)
			}
			for _, action := range []string{templates.ActionCreated, templates.ActionActivated} {
				if _, err := tx.ExecContext(ctx, d.query("insert-template-change"), v.Name, v.Locale, 1, action, v.CreatedBy, d.timeArg(v.CreatedAt)); err != nil {
					return fmt.Errorf("seed template %s/%s: %w", v.Name, v.Locale, err)
				}
			}
		}
		if seeded {
			if _, err := tx.ExecContext(ctx, d.query("bump-template-generation")); err != nil {
				return fmt.Errorf("seed templates: %w", err)
			}
		}
		return nil
	})
}

// TemplateGeneration returns the number that changes with every
// activation.
func (d *DB) TemplateGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := d.db.GetContext(ctx, &n, d.query("template-generation")); err != nil {
		return 0, fmt.Errorf("template generation: %w", err)
	}
	return n, nil
}

// ActiveTemplates returns the active version of every name and locale.
func (d *DB) ActiveTemplates(ctx context.Context) ([]templates.Version, error) {
	var rows []templateRow
	if err := d.db.SelectContext(ctx, &rows, d.query("active-templates")); err != nil {
		return nil, fmt.Errorf("active templates: %w", err)
	}
	out := make([]templates.Version, len(rows))
	for i, r := range rows {
		r.Active = 1
		out[i] = r.version()
	}
	return out, nil
}

// TemplateSummaries lists every name and locale with its active version.
func (d *DB) TemplateSummaries(ctx context.Context) ([]templates.Summary, error) {
	var rows []struct {
		Name   string `db:"name"`
		Locale string `db:"locale"`
		Active int    `db:"active_version"`
		Latest int    `db:"latest_version"`
		At     dbTime `db:"updated_at"`
	}
	if err := d.db.SelectContext(ctx, &rows, d.query("template-summaries")); err != nil {
		return nil, fmt.Errorf("template summaries: %w", err)
	}
	out := make([]templates.Summary, len(rows))
	for i, r := range rows {
		out[i] = templates.Summary{Name: r.Name, Locale: r.Locale, ActiveVersion: r.Active, LatestVersion: r.Latest, UpdatedAt: r.At.Time}
	}
	return out, nil
}

// TemplateVersions returns every version of name in locale, newest first.
func (d *DB) TemplateVersions(ctx context.Context, name, locale string) ([]templates.Version, error) {
	var rows []templateRow
	if err := d.db.SelectContext(ctx, &rows, d.query("template-versions"), name, locale); err != nil {
		return nil, fmt.Errorf("template versions: %w", err)
	}
	out := make([]templates.Version, len(rows))
	for i, r := range rows {
		out[i] = r.version()
	}
	return out, nil
}

// TemplateVersion returns one version of name in locale.
func (d *DB) TemplateVersion(ctx context.Context, name, locale string, version int) (templates.Version, error) {
	var r templateRow
	err := d.db.GetContext(ctx, &r, d.query("template-version"), name, locale, version)
	if errors.Is(err, sql.ErrNoRows) {
		return templates.Version{}, templates.ErrVersionNotFound
	} else if err != nil {
		return templates.Version{}, fmt.Errorf("template version: %w", err)
	}
	return r.version(), nil
}

// CreateTemplateVersion saves v under the next version number of its name
// and locale, not active. Two saves at once both get a number: the one
// that loses the race tries again.
func (d *DB) CreateTemplateVersion(ctx context.Context, v templates.Version) (templates.Version, error) {
	var err error
	for range 5 {
		err = d.tx(ctx, func(tx *sqlx.Tx) error {
			if err := tx.GetContext(ctx, &v.Version, d.query("next-template-version"), v.Name, v.Locale); err != nil {
				return fmt.Errorf("next template version: %w", err)
			}
			if _, err := tx.ExecContext(ctx, d.query("insert-template-version"), v.Name, v.Locale, v.Version,
				v.Source.Subject, v.Source.Text, v.Source.HTML, v.CreatedBy, d.timeArg(v.CreatedAt)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, d.query("insert-template-change"), v.Name, v.Locale, v.Version,
				templates.ActionCreated, v.CreatedBy, d.timeArg(v.CreatedAt))
			return err
		})
		if !isUnique(err) {
			break
		}
	}
	if err != nil {
		return templates.Version{}, fmt.Errorf("create template version: %w", err)
	}
	return v, nil
}

// ActivateTemplate makes version the active one of name in locale, keeps
// who and when, and changes the generation, in one transaction.
func (d *DB) ActivateTemplate(ctx context.Context, name, locale string, version int, by string, at time.Time) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		var n int
		err := tx.GetContext(ctx, &n, d.query("next-template-version"), name, locale)
		if err != nil {
			return fmt.Errorf("activate template: %w", err)
		}
		if version < 1 || version >= n {
			return templates.ErrVersionNotFound
		}
		if _, err := tx.ExecContext(ctx, d.query("upsert-template-active"), name, locale, version); err != nil {
			return fmt.Errorf("activate template: %w", err)
		}
		if _, err := tx.ExecContext(ctx, d.query("insert-template-change"), name, locale, version,
			templates.ActionActivated, by, d.timeArg(at)); err != nil {
			return fmt.Errorf("activate template: %w", err)
		}
		if _, err := tx.ExecContext(ctx, d.query("bump-template-generation")); err != nil {
			return fmt.Errorf("activate template: %w", err)
		}
		return nil
	})
}

// TemplateHistory returns the changes of name in locale, oldest first.
func (d *DB) TemplateHistory(ctx context.Context, name, locale string) ([]templates.Change, error) {
	var rows []struct {
		Version int    `db:"version"`
		Action  string `db:"action"`
		Actor   string `db:"actor"`
		At      dbTime `db:"at"`
	}
	if err := d.db.SelectContext(ctx, &rows, d.query("template-history"), name, locale); err != nil {
		return nil, fmt.Errorf("template history: %w", err)
	}
	out := make([]templates.Change, len(rows))
	for i, r := range rows {
		out[i] = templates.Change{Version: r.Version, Action: r.Action, By: r.Actor, At: r.At.Time}
	}
	return out, nil
}

// MessageTemplates returns, for each message queued for an invite in
// order, the template locale and version it was rendered from
// ("fr/2").
func (d *DB) MessageTemplates(ctx context.Context, inviteID string) ([]string, error) {
	var out []string
	if err := d.db.SelectContext(ctx, &out, d.query("outbox-templates"), inviteID); err != nil {
		return nil, fmt.Errorf("message templates: %w", err)
	}
	return out, nil
}
