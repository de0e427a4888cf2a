// Package sqlfiles embeds Beckon's hand-written SQL: the schema migrations
// of each dialect (migrations/sqlite, migrations/postgres), applied in name
// order, and the named queries shared by both (queries.sql).
package sqlfiles

import "embed"

// FS holds migrations/ and queries.sql.
//
//go:embed migrations queries.sql
var FS embed.FS
