package tui

import (
	"context"
	"errors"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/app/api"
)

// signIn is the sign-in form: email and password, then the one-time code
// when the server answers that the account has a second factor.
type signIn struct {
	client  *api.Client
	width   int
	height  int
	form    *form
	busy    bool
	needOTP bool
}

type (
	// signedInMsg says who is signed in, or why nobody is.
	signedInMsg struct {
		me  api.Me
		err error
	}
)

func newSignIn(client *api.Client, email, problem string) *signIn {
	s := &signIn{client: client}
	s.form = newForm("Sign in to "+client.BaseURL, s.submit,
		textField("Email", email, "e.g. admin@localhost"),
		secretField("Password", ""),
	)
	if email != "" {
		s.form.setFocus(1)
	}
	s.form.err = problem
	s.form.intro = "An admin account, or an auditor to watch the logs."
	s.form.hint = "enter next field, on the last one sign in · ctrl+c quit"
	return s
}

func (s *signIn) submit(v []string) (tea.Cmd, error) {
	if s.busy {
		return nil, errors.New("signing in…")
	}
	if v[0] == "" || v[1] == "" {
		return nil, errors.New("email and password, please")
	}
	in := api.LoginRequest{Email: v[0], Password: v[1]}
	if s.needOTP {
		if v[2] == "" {
			return nil, errors.New("the code from your authenticator app, please")
		}
		in.OTP = v[2]
	}
	s.busy = true
	client := s.client
	return func() tea.Msg {
		ctx := context.Background()
		// A token of a session that ended would be refused before the
		// login is even read.
		client.Token = ""
		if _, err := client.Login(ctx, in); err != nil {
			return signedInMsg{err: err}
		}
		// The login's answer says who; GET /api/auth/me also says what
		// they may do.
		me, err := client.Me(ctx)
		return signedInMsg{me: me, err: err}
	}, nil
}

// failed shows why signing in did not work; a missing code adds its field.
func (s *signIn) failed(err error) {
	s.busy = false
	switch {
	case api.IsCode(err, api.CodeMFARequired) && !s.needOTP:
		s.needOTP = true
		s.form.fields = append(s.form.fields, textField("Code", "", "e.g. 123456"))
		s.form.setWidth(s.form.width)
		s.form.setFocus(2)
		s.form.err = "This account has a second factor: type the code from your authenticator app."
	case api.IsCode(err, api.CodeInvalidCredentials):
		s.form.err = "Wrong email, password or code."
	default:
		s.form.err = describeError(err)
	}
}

func (s *signIn) update(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, s.form.keys.Cancel) {
		return nil // there is nothing to go back to
	}
	_, cmd := s.form.update(msg)
	return cmd
}

func (s *signIn) setSize(width, height int) {
	s.width, s.height = width, height
	s.form.setWidth(min(width-6, 64))
}

func (s *signIn) view() string {
	body := s.form.view()
	if s.busy {
		body += "\n" + styleMuted.Render("signing in…")
	}
	box := styleDialog.Render(body)
	return lipgloss.Place(s.width, s.height, lipgloss.Center, lipgloss.Center, box)
}
