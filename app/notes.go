package app

import (
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// Notes are the worked example of a resource with an owner: this file is
// all the code one needs (its type, checks and view), plus its line in
// routes.go and its rules in policy.csv. Copy it for a resource of your
// own; README's "Add a resource" says each step.

// Note is a title and a body owned by one user.
type Note struct {
	store.Owned
	Title string `json:"title"`
	Body  string `json:"body"`
}

// Notes are the stored notes, for tools that read them.
var Notes = notes.collection()

const (
	maxTitleLen = 200
	maxBodyLen  = 50000
)

var notes = declare(&OwnedResource[Note, *Note, api.NoteInput, api.Note]{
	Name:  "notes",
	Check: checkNote,
	Apply: func(n *Note, in *api.NoteInput) {
		if in.Title != nil {
			n.Title = *in.Title
		}
		if in.Body != nil {
			n.Body = *in.Body
		}
	},
	View: func(n *Note) api.Note {
		return api.Note{
			ID: store.FormatID(n.ID), OwnerID: store.FormatID(n.OwnerID), Title: n.Title, Body: n.Body,
			CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt,
		}
	},
})

// checkNote returns the problems of a note's fields; create says the title
// is needed.
func checkNote(in *api.NoteInput, create bool) map[string]string {
	problems := map[string]string{}
	switch {
	case in.Title == nil && create:
		problems["title"] = "is required"
	case in.Title != nil && (utf8.RuneCountInString(*in.Title) < 1 || utf8.RuneCountInString(*in.Title) > maxTitleLen):
		problems["title"] = "must be 1 to 200 characters"
	}
	if in.Body != nil && utf8.RuneCountInString(*in.Body) > maxBodyLen {
		problems["body"] = "must be at most 50000 characters"
	}
	return problems
}
