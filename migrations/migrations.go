// Package migrations embeds Latchkey's ordered SQL migrations, one folder per dialect
// (sqlite, postgres). Files are named NNNN_name.sql and applied in name order.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
