package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Owned resources: things that belong to one user (notes are the example).
// A backend stores every kind of them alike, as JSON documents with an id,
// an owner and timestamps, so a new kind needs no backend code: declare its
// type with Owned embedded and use a Collection of it.

// Owned is the part of an owned resource the store keeps: embed it in the
// resource's type. The store sets ID and the timestamps; OwnerID is set at
// creation and never changes.
type Owned struct {
	ID        uint64    `json:"id"`
	OwnerID   uint64    `json:"owner_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Meta is the stored part of the resource; embedding Owned makes a type a
// Resource.
func (o *Owned) Meta() *Owned { return o }

// Resource is a type with Owned embedded.
type Resource interface {
	Meta() *Owned
}

// Doc is one owned resource as a backend stores it: its meta data, and the
// whole resource as a JSON object (which may repeat the meta data; the
// store's own fields win).
type Doc struct {
	Owned
	Data json.RawMessage
}

// Docs are the owned resources of every kind. A kind is a lower-case name
// ([a-z][a-z0-9_]*, at most 32 characters) such as "notes"; ids are per
// kind. Users.Delete deletes a user's resources of every kind.
type Docs interface {
	// Create stores a new resource of kind and sets its ID and timestamps.
	// An unknown owner is ErrNotFound.
	Create(kind string, d *Doc) error
	// Get returns the resource of kind with id.
	Get(kind string, id uint64) (Doc, error)
	// Update stores d.Data over the resource with d.ID, keeping its owner
	// and creation time and setting UpdatedAt (d's meta is updated too).
	Update(kind string, d *Doc) error
	// Delete removes the resource of kind with id.
	Delete(kind string, id uint64) error
	// List returns a page of resources of kind in id order: all of them
	// when owner is 0, else the owner's.
	List(kind string, owner uint64, p Page) ([]Doc, string, error)
}

// CheckKind refuses a kind that is not a lower-case name of at most 32
// characters (^[a-z][a-z0-9_]{0,31}$). Backends call it before they use a
// kind, on the request path too, so it is a loop rather than a regexp.
func CheckKind(kind string) error {
	ok := len(kind) >= 1 && len(kind) <= 32 && 'a' <= kind[0] && kind[0] <= 'z'
	for i := 1; ok && i < len(kind); i++ {
		c := kind[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_'
	}
	if !ok {
		return fmt.Errorf("store: %q is not a kind of resource: 1 to 32 lower case letters, digits or '_', starting with a letter", kind)
	}
	return nil
}

// Collection is the typed view of one kind of owned resource, over the
// Docs of a transaction: T is the resource's type (with Owned embedded), P
// its pointer type. It is all the storage code a new kind needs:
//
//	type Project struct {
//		store.Owned
//		Name string `json:"name"`
//	}
//
//	var projects = store.Collection[Project, *Project]{Kind: "projects"}
type Collection[T any, P interface {
	*T
	Resource
}] struct {
	Kind string
}

// FromDoc makes a T of a stored document of this kind, with the store's
// meta data: for a document read some other way than Get (a request's
// resource read with its credential, store.Credential).
func (c Collection[T, P]) FromDoc(d Doc) (T, error) {
	var v T
	if err := json.Unmarshal(d.Data, &v); err != nil {
		return v, fmt.Errorf("store: %s %d: %w", c.Kind, d.ID, err)
	}
	*P(&v).Meta() = d.Owned
	return v, nil
}

// Create stores v, owned by v's OwnerID, and sets its ID and timestamps.
func (c Collection[T, P]) Create(tx Tx, v P) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: %s: %w", c.Kind, err)
	}
	d := Doc{Owned: *v.Meta(), Data: data}
	if err := tx.Docs().Create(c.Kind, &d); err != nil {
		return err
	}
	*v.Meta() = d.Owned
	return nil
}

// Get returns the resource with id.
func (c Collection[T, P]) Get(tx Tx, id uint64) (T, error) {
	d, err := tx.Docs().Get(c.Kind, id)
	if err != nil {
		var zero T
		return zero, err
	}
	return c.FromDoc(d)
}

// Update stores v over the resource with its ID; its owner and creation
// time stay, UpdatedAt is set.
func (c Collection[T, P]) Update(tx Tx, v P) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: %s %d: %w", c.Kind, v.Meta().ID, err)
	}
	d := Doc{Owned: *v.Meta(), Data: data}
	if err := tx.Docs().Update(c.Kind, &d); err != nil {
		return err
	}
	*v.Meta() = d.Owned
	return nil
}

// Delete removes the resource with id.
func (c Collection[T, P]) Delete(tx Tx, id uint64) error {
	return tx.Docs().Delete(c.Kind, id)
}

// List returns a page of resources in id order: all of them when owner is
// 0, else the owner's.
func (c Collection[T, P]) List(tx Tx, owner uint64, p Page) ([]T, string, error) {
	docs, next, err := tx.Docs().List(c.Kind, owner, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]T, len(docs))
	for i, d := range docs {
		if out[i], err = c.FromDoc(d); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}
