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
	s.add(http.MethodGet, r.itemPath(), r.handleGet, owner)
	s.add(http.MethodPatch, r.itemPath(), r.handleUpdate(s), owner)
	s.add(http.MethodDelete, r.itemPath(), r.handleDelete(s), owner)
}

// ownerOf loads the resource of the route's :id for the authorization
// middleware, which decides on its owner, and keeps it for the handler.
func (r *OwnedResource[T, P, In, Out]) ownerOf(s *Server) ownerFunc {
	return func(c echo.Context) (uint64, error) {
		id, err := store.ParseID(c.Param("id"))
		if err != nil {
			return 0, err
		}
		var v T
		err = s.db.View(c.Request().Context(), func(tx store.Tx) (err error) {
			v, err = r.collection().Get(tx, id)
			return err
		})
		if err != nil {
			return 0, err
		}
		c.Set(ctxResource, &v)
		return P(&v).Meta().OwnerID, nil
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

func (r *OwnedResource[T, P, In, Out]) handleGet(c echo.Context) error {
	v, ok := resourceOf[*T](c)
	if !ok {
		return errNotFound
	}
	return c.JSON(http.StatusOK, r.View(P(v)))
}

// handleUpdate applies the body to the resource as stored now, read again
// in the transaction that writes it.
func (r *OwnedResource[T, P, In, Out]) handleUpdate(s *Server) echo.HandlerFunc {
	return func(c echo.Context) error {
		loaded, ok := resourceOf[*T](c)
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
			if v, err = r.collection().Get(tx, P(loaded).Meta().ID); err != nil {
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
		v, ok := resourceOf[*T](c)
		if !ok {
			return errNotFound
		}
		err := s.db.Update(c.Request().Context(), func(tx store.Tx) error { return r.collection().Delete(tx, P(v).Meta().ID) })
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
