package store

import (
	"context"
	"errors"
)

// DocRef names one owned resource: its kind and id. The zero DocRef names
// none.
type DocRef struct {
	Kind string
	ID   uint64
}

// Credential is what a request's secret leads to, read in one consistent
// state of the database: the session (or token) whose secret hashes to the
// hash, its user, the policy version of that state and, when the request
// names one, the owned resource it acts on. The request path reads it once
// per request (CredentialReader), so that a backend across a network pays
// one round trip for it instead of one per record.
type Credential struct {
	Session Session
	User    User
	// Version is the policy version of the state read (Rules.Version).
	Version uint64
	// Doc is the resource asked for, when DocErr is nil and one was asked
	// for. DocErr is ErrNotFound (wrapped) when there is no such resource.
	Doc    Doc
	DocErr error
}

// CredentialReader reads a request's credential in one go. Every backend
// provides it; ReadCredentialIn is its meaning, over one transaction.
type CredentialReader interface {
	// ReadCredential returns the session whose secret hashes to hash, its
	// user, the policy version and, unless doc is the zero DocRef, the
	// resource doc, all of one state of the database. An unknown hash, or
	// a session whose user is gone, is ErrNotFound; expiry and disabled
	// users are the caller's to judge, as with Sessions.ByHash.
	ReadCredential(ctx context.Context, hash []byte, doc DocRef) (Credential, error)
}

// ReadCredentialIn is ReadCredential over one transaction: what a backend
// whose transactions cost nothing to open does (store/bolt), and what any
// other must answer the same as (store/storetest checks it).
func ReadCredentialIn(tx Tx, hash []byte, doc DocRef) (Credential, error) {
	var c Credential
	var err error
	if c.Session, err = tx.Sessions().ByHash(hash); err != nil {
		return Credential{}, err
	}
	if c.User, err = tx.Users().Get(c.Session.UserID); err != nil {
		return Credential{}, err
	}
	if c.Version, err = tx.Rules().Version(); err != nil {
		return Credential{}, err
	}
	if doc.Kind != "" {
		c.Doc, err = tx.Docs().Get(doc.Kind, doc.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Credential{}, err
		}
		c.DocErr = err
	}
	return c, nil
}
