// Package migrations embeds Latchkey's one schema: ordered SQL files named NNNN_name.sql,
// applied in name order by the store package (broker/sqlstore) on SQLite and PostgreSQL
// alike. Where a statement truly differs between the two, the migration is written twice,
// as NNNN_name.sqlite.sql and NNNN_name.postgres.sql, and each dialect applies its own; a
// test fails when the schemas the two dialects end up with drift apart.
package migrations

import "embed"

// FS holds the *.sql files.
//
//go:embed *.sql
var FS embed.FS
