package tui

import (
	"errors"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/app/api"
)

// field is one labelled input of a form.
type field struct {
	label string
	input textinput.Model
	bad   bool // the server refused this field's value
}

// textField is a field holding value, with placeholder shown when empty.
func textField(label, value, placeholder string) field {
	in := newInput(placeholder)
	in.SetValue(value)
	return field{label: label, input: in}
}

// secretField is a field whose value is shown as dots.
func secretField(label, placeholder string) field {
	f := textField(label, "", placeholder)
	f.input.EchoMode = textinput.EchoPassword
	f.input.EchoCharacter = '•'
	return f
}

// formState says whether a form is still open after a message.
type formState int

const (
	formOpen formState = iota
	formSubmitted
	formCancelled
)

// form is a few labelled inputs with a title. enter on the last field hands
// the values to submit, which checks them and returns the command that acts
// on them; an error keeps the form open and is shown in it.
type form struct {
	title  string
	intro  string
	fields []field
	focus  int
	submit func(values []string) (tea.Cmd, error)
	err    string
	keys   formKeys
	width  int
	hint   string // the keys, under the fields
}

func newForm(title string, submit func(values []string) (tea.Cmd, error), fields ...field) *form {
	f := &form{title: title, fields: fields, submit: submit, keys: newFormKeys(), width: 60,
		hint: "enter next field, on the last one submit · tab next field · esc cancel"}
	f.setFocus(0)
	return f
}

// values are the fields' values, trimmed, in order.
func (f *form) values() []string {
	out := make([]string, len(f.fields))
	for i, fl := range f.fields {
		out[i] = strings.TrimSpace(fl.input.Value())
	}
	return out
}

func (f *form) setFocus(i int) {
	f.focus = (i + len(f.fields)) % len(f.fields)
	for j := range f.fields {
		if j == f.focus {
			f.fields[j].input.Focus()
		} else {
			f.fields[j].input.Blur()
		}
	}
}

// setWidth fits the inputs to a dialog of width cells.
func (f *form) setWidth(width int) {
	f.width = width
	for i := range f.fields {
		f.fields[i].input.Width = max(width-f.labelWidth()-4, 8)
	}
}

func (f *form) labelWidth() int {
	w := 0
	for _, fl := range f.fields {
		w = max(w, lipgloss.Width(fl.label))
	}
	return w + 2
}

// update handles a message; on submit it returns the submit command.
func (f *form) update(msg tea.Msg) (formState, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return formOpen, nil
	}
	switch {
	case key.Matches(k, f.keys.Cancel):
		return formCancelled, nil
	case key.Matches(k, f.keys.Submit):
		if f.focus < len(f.fields)-1 {
			f.setFocus(f.focus + 1)
			return formOpen, nil
		}
		cmd, err := f.submit(f.values())
		if err != nil {
			f.err = err.Error()
			return formOpen, nil
		}
		f.err = ""
		return formSubmitted, cmd
	case key.Matches(k, f.keys.Next):
		f.setFocus(f.focus + 1)
		return formOpen, nil
	case key.Matches(k, f.keys.Prev):
		f.setFocus(f.focus - 1)
		return formOpen, nil
	}
	var cmd tea.Cmd
	f.fields[f.focus].input, cmd = f.fields[f.focus].input.Update(msg)
	return formOpen, cmd
}

// failed keeps the form open after the server refused its change: the
// message under the fields, and the fields the server named marked (the
// details of invalid_input are keyed by the JSON name, which is the label
// lower-cased).
func (f *form) failed(err error) {
	f.err = describeError(err)
	var e *api.Error
	details := map[string]string{}
	if errors.As(err, &e) {
		details = e.Details
	}
	first := -1
	for i := range f.fields {
		_, bad := details[strings.ToLower(f.fields[i].label)]
		f.fields[i].bad = bad
		if bad && first < 0 {
			first = i
		}
	}
	if first >= 0 {
		f.setFocus(first)
	}
}

// view renders the title, the fields and any error, without a frame.
func (f *form) view() string {
	var b strings.Builder
	b.WriteString(styleTitle.Render(f.title) + "\n")
	wrap := lipgloss.NewStyle().Width(max(f.width-4, 20))
	if f.intro != "" {
		b.WriteString(styleMuted.Inherit(wrap).Render(f.intro) + "\n")
	}
	b.WriteString("\n")
	lw := f.labelWidth()
	for i, fl := range f.fields {
		marker := "  "
		if i == f.focus {
			marker = "> "
		}
		label := lipgloss.NewStyle().Width(lw).Render(fl.label)
		line := marker + styleLabel.Render(label) + fl.input.View()
		if fl.bad {
			line += styleBad.Render(" ✗")
		}
		b.WriteString(line + "\n")
	}
	if f.err != "" {
		b.WriteString("\n" + styleBad.Inherit(wrap).Render(f.err) + "\n")
	}
	b.WriteString("\n" + styleMuted.Render(f.hint))
	return b.String()
}

// confirmation is a yes/no question whose answer is No unless the person
// presses y. prompt names exactly what changes.
type confirmation struct {
	prompt string
	yes    tea.Cmd
	keys   confirmKeys
}

// update answers the question: done is true once answered, and cmd is the
// action when the answer was yes.
func (c *confirmation) update(msg tea.Msg) (done bool, cmd tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return false, nil
	}
	switch {
	case key.Matches(k, c.keys.Yes):
		return true, c.yes
	case key.Matches(k, c.keys.No):
		return true, nil
	}
	return false, nil
}

func (c *confirmation) view(width int) string {
	text := lipgloss.NewStyle().Width(width).Render(c.prompt)
	return styleTitle.Render("Are you sure?") + "\n\n" + text + "\n\n" +
		styleBold.Render("y") + " yes   " + styleBold.Render("N") + " no (default: enter, esc, n)"
}
