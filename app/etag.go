package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Optimistic concurrency for admin users and groups. A read answers with an
// ETag, the hash of the view it shows; a change sent with If-Match goes
// through only when the view, read again inside the change's transaction,
// still has that hash. Two admins editing one user can then not silently
// undo each other's change: the second gets 412 and reads again.
//
// The hash covers the whole API view (roles, groups, members included), so
// any change to what a client was shown changes the tag; nothing needs to
// be stored.

var errPreconditionFailed = apiError(http.StatusPreconditionFailed, api.CodePreconditionFailed,
	"this changed since you read it: read it again and redo your change")

// etagOf is the strong entity tag of an API view: a quoted hash of its JSON,
// computed with its own ETag field empty.
func etagOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Views are plain structs; they always encode.
		panic("etag: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// userWithETag is u with its version filled in.
func userWithETag(u api.User) api.User {
	u.ETag = ""
	u.ETag = etagOf(u)
	return u
}

// groupWithETag is g with its version filled in.
func groupWithETag(g api.Group) api.Group {
	g.ETag = ""
	g.ETag = etagOf(g)
	return g
}

// checkIfMatch answers 412 when the request carries If-Match and none of
// its tags is current, the tag of the view as read in the transaction
// that is about to change it. Without If-Match the change goes through
// (the header is the client's choice); "*" matches anything that exists.
func checkIfMatch(c echo.Context, current string) error {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" {
		return nil
	}
	if len(h) > 1024 {
		return invalidInput(map[string]string{"If-Match": "must be at most 1024 characters"})
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || tag == current {
			return nil
		}
	}
	return errPreconditionFailed
}

// setETag puts tag in the answer's ETag header.
func setETag(c echo.Context, tag string) {
	c.Response().Header().Set("ETag", tag)
}

// userViewInTx is the user view with its version, for lists.
func userViewInTx(tx store.Tx, u store.User) (api.User, error) {
	v, err := access.UserView(tx, u)
	return userWithETag(v), err
}

// groupViewInTx is the group view with its version, for lists.
func groupViewInTx(tx store.Tx, g store.Group) (api.Group, error) {
	v, err := access.GroupView(tx, g)
	return groupWithETag(v), err
}

// ifMatchUser checks the request's If-Match against a user as the change's
// transaction reads it (access.UserChange.IfMatch).
func ifMatchUser(c echo.Context) func(api.User) error {
	return func(before api.User) error { return checkIfMatch(c, userWithETag(before).ETag) }
}

// ifMatchGroup checks the request's If-Match against a group as the
// change's transaction reads it; nil without If-Match.
func ifMatchGroup(c echo.Context) func(api.Group) error {
	if c.Request().Header.Get("If-Match") == "" {
		return nil
	}
	return func(before api.Group) error { return checkIfMatch(c, groupWithETag(before).ETag) }
}

// userAnswer writes u with its version, in the body and the ETag header.
func userAnswer(c echo.Context, status int, u api.User) error {
	u = userWithETag(u)
	setETag(c, u.ETag)
	return c.JSON(status, u)
}

// groupAnswer writes g with its version, in the body and the ETag header.
func groupAnswer(c echo.Context, status int, g api.Group) error {
	g = groupWithETag(g)
	setETag(c, g.ETag)
	return c.JSON(status, g)
}
