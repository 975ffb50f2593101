package bolt

import (
	"context"
	"fmt"
	"io"

	bbolt "go.etcd.io/bbolt"
)

// Snapshot writes a consistent copy of the whole database from one read
// transaction, while writers go on. begin is called inside the transaction
// with the exact size of the copy, and returns where to write it: an HTTP
// handler sets Content-Length there, a command opens its file. Snapshot
// returns how many bytes it wrote.
//
// The read transaction lasts as long as the copy takes, and bbolt cannot
// grow its memory map while a read transaction is open: a writer that needs
// more room waits for the copy to end. Callers writing to a slow reader
// should bound how long a stalled write may take.
func (db *DB) Snapshot(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		w, err := begin(tx.Size())
		if err != nil {
			return err
		}
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: snapshot of %s: %w", db.path, err)
	}
	return n, nil
}

// ctxWriter stops a copy once its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (cw ctxWriter) Write(p []byte) (int, error) {
	if err := cw.ctx.Err(); err != nil {
		return 0, fmt.Errorf("copy cancelled: %w", err)
	}
	return cw.w.Write(p)
}
