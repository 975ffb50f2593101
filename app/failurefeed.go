package app

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// One auth-failure stream for a deployment of several instances: when the
// store is written by several processes (store.FailureWatcher), an
// instance does not send its own flushes to its streams. A follower reads
// every record written to the store after the last it sent, in write order
// (store.FailureFeed), and sends those: after its own flushes, when the
// store announces another process's, and after its listening connection
// is made again (announcements are lost while it is away). So every
// instance's stream shows the failures of all of them, once each, in the
// order they were stored.

const (
	// followRetryDelay is how soon the follower's listening connection is
	// made again after it fails.
	followRetryDelay = 250 * time.Millisecond
	// followBatch bounds the records one read brings.
	followBatch = 500
)

// follower sends the store's auth-failure writes to the streams.
type follower struct {
	l       *failureLog
	watcher store.FailureWatcher

	pokes  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func newFollower(l *failureLog, w store.FailureWatcher) *follower {
	return &follower{l: l, watcher: w, pokes: make(chan struct{}, 1), done: make(chan struct{})}
}

// poke asks for a read soon; pokes while one is pending fold into it.
func (f *follower) poke() {
	select {
	case f.pokes <- struct{}{}:
	default:
	}
}

func (f *follower) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		failing := false
		err := f.watcher.WatchFailures(ctx, followRetryDelay, func() {
			failing = false
			f.poke()
		}, func(err error) {
			if !failing {
				failing = true
				f.l.log.Warn("auth-failure stream: lost the store's announcements; retrying", "error", err.Error())
			}
		})
		if err != nil {
			f.l.log.Error("auth-failure stream: stopped following the store", "error", err.Error())
		}
	}()
	go func() {
		defer close(f.done)
		defer func() { <-watched }()
		f.run(ctx)
	}()
}

// stop ends the follower and waits for it.
func (f *follower) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	<-f.done
}

// run reads and sends what was written after the last record sent; the
// streams start from the writes after start-up.
func (f *follower) run(ctx context.Context) {
	var mark uint64
	known := false
	for {
		if !known {
			err := f.l.db.View(ctx, func(tx store.Tx) (err error) {
				mark, err = tx.(store.FailureFeed).LatestFailureMark()
				return err
			})
			known = err == nil
		} else {
			f.sendSince(ctx, &mark)
		}
		select {
		case <-ctx.Done():
			return
		case <-f.pokes:
		}
	}
}

// sendSince sends every record written after *mark, moving it on.
func (f *follower) sendSince(ctx context.Context, mark *uint64) {
	for {
		var recs []store.AuthFailure
		err := f.l.db.View(ctx, func(tx store.Tx) (err error) {
			recs, *mark, err = tx.(store.FailureFeed).FailuresChangedSince(*mark, followBatch)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				f.l.log.Warn("auth-failure stream: read the store", "error", err.Error())
			}
			return
		}
		if len(recs) > 0 {
			f.l.publish(recs)
		}
		if len(recs) < followBatch {
			return
		}
	}
}
