package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema is a list of SQL files, migrations/NNNN_name.sql, applied in
// order, each in its own transaction with the row that records it, so a
// file is applied whole or not at all. They are applied under a session
// advisory lock: instances starting together on an empty database take
// turns, and all but the first find the schema done. A released version
// never changes its file; a change of schema is a new file.
//
// This is the part of pressly/goose's Provider gatehouse needs. goose
// itself would add a database/sql pool (through pgx's stdlib adapter)
// beside pgxpool, and its module brings the drivers of ten databases into
// go.sum.

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key held while migrating: any number
// unlikely to clash with another application's on the same database.
const migrationLock = 0x6761746568 // "gateh"

// migration is one schema file.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded files in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration file %s: want NNNN_name.sql", e.Name())
		}
		b, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// migrate brings the schema of the database up to the newest embedded
// file. It refuses a database whose schema is newer than this program's.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	list, err := loadMigrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: connect: %w", err)
	}
	defer conn.Release()
	// A session lock, held across the transactions of every file: it ends
	// with the connection if this process dies midway.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("store: lock the schema: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS gatehouse_schema (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("store: schema table: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM gatehouse_schema").Scan(&current); err != nil {
		return fmt.Errorf("store: read the schema version: %w", err)
	}
	if newest := list[len(list)-1].version; current > newest {
		return fmt.Errorf("store: the database has schema version %d, newer than this program's %d: run a newer gatehouse", current, newest)
	}
	for _, m := range list {
		if m.version <= current {
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO gatehouse_schema (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
	}
	return nil
}
