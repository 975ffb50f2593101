package app

import (
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Owned resources: things that belong to the user who created them (notes
// are the worked example, app/notes.go). A resource is declared once, with
// its type, the body a client sends, its checks and its view; OwnedResource
// gives it five routes, their handlers, the owner resolver the
// authorization middleware decides on, and its storage (a store.Collection,
// which every backend provides). README's "Add a resource" walks through it.

// OwnedResource declares a resource owned by one user. T is its stored type
// (with store.Owned embedded) and P its pointer type, In the body of its
// create and update requests, Out its view in answers.
type OwnedResource[T any, P interface {
	*T
	store.Resource
}, In any, Out any] struct {
	// Name is the resource's plural name: its routes are /api/<Name> and
	// /api/<Name>/:id, and it is stored as the kind <Name>.
	Name string
	// Check returns the problems of a body by field, or nil; create says
	// it is for a new resource (so required fields must be there).
	Check func(in *In, create bool) map[string]string
	// Apply sets the fields of v that in holds (never the owner or the
	// store's fields: the client cannot choose those).
	Apply func(v P, in *In)
	// View is v as the API shows it.
	View func(v P) Out

	// answers are the answers of GET by stored document (answers.go),
	// made by declare, which every resource goes through.
	answers *answerMemo
}

// ownedRoutes is what the server needs of a declared resource.
type ownedRoutes interface {
	// register adds the resource's routes to s.
	register(s *Server)
	// newBody makes a value of the request body type, for the decoder's
	// fuzz test, which checks every body the API reads.
	newBody() any
}

// declaredResources are the owned resources declared in this package, in
// the order of their declaration.
var declaredResources []ownedRoutes

// declare records an owned resource and returns it. Its name must be a
// kind of store (lower case): a wrong name is a programming error, found
// at start-up.
func declare[T any, P interface {
	*T
	store.Resource
}, In any, Out any](r *OwnedResource[T, P, In, Out]) *OwnedResource[T, P, In, Out] {
	if err := store.CheckKind(r.Name); err != nil {
		panic(fmt.Sprintf("app: owned resource %q: %v", r.Name, err))
	}
	r.answers = newAnswerMemo()
	declaredResources = append(declaredResources, r)
	return r
}

func (r *OwnedResource[T, P, In, Out]) collection() store.Collection[T, P] {
	return store.Collection[T, P]{Kind: r.Name}
}

// Paths are the resource's route templates: the list and one resource.
func (r *OwnedResource[T, P, In, Out]) listPath() string { return "/api/" + r.Name }
func (r *OwnedResource[T, P, In, Out]) itemPath() string { return "/api/" + r.Name + "/:id" }

func (r *OwnedResource[T, P, In, Out]) newBody() any { return new(In) }

// register adds the five routes. The routes of one resource take its owner
// resolver; the policy decides who may use them (owner rules for users).
func (r *OwnedResource[T, P, In, Out]) register(s *Server) {
	owner := r.ownerOf(s)
	s.add(http.MethodGet, r.listPath(), r.handleList(s), nil, signedIn)
	s.add(http.MethodPost, r.listPath(), r.handleCreate(s), nil, signedIn)
	for _, item := range []route{
		{method: http.MethodGet, handler: r.handleGet},
		{method: http.MethodPatch, handler: r.handleUpdate(s)},
		{method: http.MethodDelete, handler: r.handleDelete(s)},
	} {
		item.path, item.owner, item.resource = r.itemPath(), owner, r.ref
		s.addRoute(item)
	}
}

// ref names the resource of the route's :id.
func (r *OwnedResource[T, P, In, Out]) ref(c echo.Context) (store.DocRef, error) {
	id, err := store.ParseID(c.Param("id"))
	return store.DocRef{Kind: r.Name, ID: id}, err
}

// ownerOf loads the stored resource of the route's :id for the
// authorization middleware, which decides on its owner, and keeps it for
// the handler. A signed-in caller's request read it with their credential
// already.
func (r *OwnedResource[T, P, In, Out]) ownerOf(s *Server) ownerFunc {
	return func(c echo.Context) (uint64, error) {
		ref, err := r.ref(c)
		if err != nil {
			return 0, err
		}
		d, err, read := callerOf(c).readResource(ref)
		if !read {
			d = new(store.Doc)
			err = s.db.View(c.Request().Context(), func(tx store.Tx) (err error) {
				*d, err = tx.Docs().Get(ref.Kind, ref.ID)
				return err
			})
		}
		if err != nil {
			return 0, err
		}
		c.Set(ctxResource, d)
		return d.OwnerID, nil
	}
}

// handleList lists the caller's resources, or every one when the policy
// lets the caller read resources they do not own: the handler asks the
// policy about the route of one resource, it knows no role names.
func (r *OwnedResource[T, P, In, Out]) handleList(s *Server) echo.HandlerFunc {
	item := r.itemPath()
	return func(c echo.Context) error {
		p, err := page(c)
		if err != nil {
			return err
		}
		cl := callerOf(c)
		owner := cl.user.ID
		anyOwner := rbac.Request{Sub: cl.subject(), Obj: item, Act: http.MethodGet, MFA: cl.mfa(), Groups: cl.groups()}
		if s.authz.Decide(anyOwner).Allowed {
			owner = 0
		}
		var items []T
		var next string
		err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
			items, next, err = r.collection().List(tx, owner, p)
			return err
		})
		if err != nil {
			return err
		}
		out := make([]Out, len(items))
		for i := range items {
			out[i] = r.View(P(&items[i]))
		}
		return c.JSON(http.StatusOK, api.List[Out]{Items: out, NextCursor: next})
	}
}

func (r *OwnedResource[T, P, In, Out]) handleCreate(s *Server) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in In
		if err := s.decodeJSON(c, &in); err != nil {
			return err
		}
		if p := r.Check(&in, true); len(p) > 0 {
			return invalidInput(p)
		}
		v := P(new(T))
		r.Apply(v, &in)
		v.Meta().OwnerID = callerOf(c).user.ID
		err := s.db.Update(c.Request().Context(), func(tx store.Tx) error { return r.collection().Create(tx, v) })
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, r.View(v))
	}
}

// handleGet answers with the resource as stored: the same stored document
// gets the same answer, kept (answerMemo) rather than decoded and encoded
// again. A query (?pretty) is answered through Echo's encoder.
func (r *OwnedResource[T, P, In, Out]) handleGet(c echo.Context) error {
	d, ok := resourceOf[*store.Doc](c)
	if !ok {
		return errNotFound
	}
	if c.Request().URL.RawQuery != "" {
		v, err := r.viewOf(*d)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	}
	b, err := r.answers.answer(*d, r.viewOf)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, b)
}

// viewOf is a stored document as the API shows it.
func (r *OwnedResource[T, P, In, Out]) viewOf(d store.Doc) (any, error) {
	v, err := r.collection().FromDoc(d)
	if err != nil {
		return nil, err
	}
	return r.View(&v), nil
}

// handleUpdate applies the body to the resource as stored now, read again
// in the transaction that writes it.
func (r *OwnedResource[T, P, In, Out]) handleUpdate(s *Server) echo.HandlerFunc {
	return func(c echo.Context) error {
		loaded, ok := resourceOf[*store.Doc](c)
		if !ok {
			return errNotFound
		}
		var in In
		if err := s.decodeJSON(c, &in); err != nil {
			return err
		}
		if p := r.Check(&in, false); len(p) > 0 {
			return invalidInput(p)
		}
		var v T
		err := s.db.Update(c.Request().Context(), func(tx store.Tx) (err error) {
			if v, err = r.collection().Get(tx, loaded.ID); err != nil {
				return err
			}
			r.Apply(P(&v), &in)
			return r.collection().Update(tx, P(&v))
		})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, r.View(P(&v)))
	}
}

func (r *OwnedResource[T, P, In, Out]) handleDelete(s *Server) echo.HandlerFunc {
	return func(c echo.Context) error {
		d, ok := resourceOf[*store.Doc](c)
		if !ok {
			return errNotFound
		}
		err := s.db.Update(c.Request().Context(), func(tx store.Tx) error { return r.collection().Delete(tx, d.ID) })
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
