package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Admin: operations. The route inventory and the database backup.

// backupStallTimeout is how long one write of a backup may wait on the
// client. The copy holds a read transaction open, which keeps writers that
// need to grow the file waiting; a client that stops reading must not hold
// it for long.
const backupStallTimeout = 30 * time.Second

// handleRouteList answers the route inventory of `gatehouse routes`,
// against the policy in force.
func (s *Server) handleRouteList(c echo.Context) error {
	return c.JSON(http.StatusOK, s.Inventory())
}

// handleBackup streams a consistent copy of the database file, made from
// one read transaction while the server goes on serving, when the store is
// one file (store.Snapshotter: bbolt; open the copy with gatehouse serve
// --db). A store without it answers 501: it has its own backup tools.
func (s *Server) handleBackup(c echo.Context) error {
	res := c.Response()
	rc := http.NewResponseController(res)
	name := "gatehouse-" + s.now().UTC().Format("20060102T150405Z") + ".db"
	started := false
	snap, ok := s.db.(store.Snapshotter)
	if !ok {
		return apiError(http.StatusNotImplemented, api.CodeNotImplemented, "this store is not one file: back it up with the database's own tools (pg_dump for PostgreSQL)")
	}
	n, err := snap.Snapshot(c.Request().Context(), func(size int64) (io.Writer, error) {
		h := res.Header()
		h.Set(echo.HeaderContentType, "application/octet-stream")
		h.Set(echo.HeaderContentLength, strconv.FormatInt(size, 10))
		h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
		h.Set("Cache-Control", "no-store")
		res.WriteHeader(http.StatusOK)
		started = true
		return stallGuard{w: res, rc: rc}, nil
	})
	if err != nil {
		if !started {
			return err
		}
		// The status line is out: break the connection, so that the client
		// sees a failed download and never takes a short copy for whole.
		s.log.Warn("backup failed midway", "request_id", requestID(c), "written", n, "error", err.Error())
		panic(http.ErrAbortHandler)
	}
	// The client may be gone already: record it all the same.
	if err := s.access.RecordBackup(context.WithoutCancel(c.Request().Context()), s.actorOf(c), n); err != nil {
		s.log.Error("record backup in the audit log", "request_id", requestID(c), "error", err.Error())
	}
	return nil
}

// stallGuard gives every write a fresh deadline: a slow client gets the
// whole copy, a stalled one is cut off after backupStallTimeout.
type stallGuard struct {
	w  io.Writer
	rc *http.ResponseController
}

func (g stallGuard) Write(p []byte) (int, error) {
	if err := g.rc.SetWriteDeadline(time.Now().Add(backupStallTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return g.w.Write(p)
}
