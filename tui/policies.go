package tui

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// policiesSection lists every policy rule and changes them: add, remove,
// import a CSV file. Its what-if panel asks the server whether a subject
// may act on an object, and shows the answer with its explanation.
type policiesSection struct {
	client *api.Client
	acc    *access
	pane   listPane
	rules  *pager[api.Rule]
	shown  []api.Rule
	detail *detailView      // open detail of one rule, if any
	opened api.Rule         // the rule of the detail
	whatIf *form            // open what-if panel, if any
	answer *api.CheckResult // its last answer
	asked  api.CheckRequest // the question of that answer
	keys   policiesKeys
	list   listKeys
}

type policiesKeys struct {
	Add, Remove, Import, WhatIf, Close, Open, Follow key.Binding
}

type (
	// policyChangedMsg is the answer to a change of the policy: added is
	// the rule added, removed the id of the rule removed; neither after an
	// import, which reloads the list.
	policyChangedMsg struct {
		text    string
		err     error
		added   *api.Rule
		removed string
	}
	checkedMsg struct {
		asked  api.CheckRequest
		answer api.CheckResult
		err    error
	}
)

func newPoliciesSection(client *api.Client, acc *access) *policiesSection {
	s := &policiesSection{
		client: client,
		acc:    acc,
		rules:  newPager(client.ListPolicies),
		list:   newListKeys(),
		keys: policiesKeys{
			Add:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add rule")),
			Remove: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "remove rule")),
			Import: key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "import CSV")),
			WhatIf: key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "what if…")),
			Close:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close")),
			Open:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "rule details")),
			Follow: key.NewBinding(key.WithKeys("J"), key.WithHelp("J", "jump to its subject")),
		},
	}
	s.pane = newListPane(func(w int) []table.Column {
		return fitColumns(w,
			[]string{"ID", "T", "Subject", "Object", "Action", "Cond"},
			[]int{4, 1, 0, 0, 0, 5},
			[]int{0, 0, 4, 6, 2, 0})
	}, "No rules match.")
	return s
}

func (s *policiesSection) title() string { return "Policies" }

func (s *policiesSection) load() tea.Cmd { return s.rules.reload(nil) }

func (s *policiesSection) isStale() bool { return s.rules.stale }

func (s *policiesSection) markStale() { s.rules.stale = true }

func (s *policiesSection) busy() bool { return s.rules.loading }

func (s *policiesSection) search() tea.Cmd {
	return s.rules.reload(map[string]string{"q": strings.TrimSpace(s.pane.filter.Value())})
}

func (s *policiesSection) setSize(w, h int) {
	s.pane.setSize(w, h)
	if s.whatIf != nil {
		s.whatIf.setWidth(w)
	}
}

func (s *policiesSection) typing() bool { return s.pane.filtering || s.whatIf != nil }

func (s *policiesSection) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case pageMsg[api.Rule]:
		ok, err := s.rules.apply(msg)
		if !ok {
			return nil
		}
		if err != nil {
			return s.pane.loadFailed(err)
		}
		s.refresh()
		return s.rules.moreNear(s.pane.table.Cursor(), len(s.shown))
	case policyChangedMsg:
		switch {
		case msg.err != nil:
			return fail(msg.err)
		case msg.added != nil:
			s.rules.add(*msg.added)
			s.refresh()
		case msg.removed != "":
			s.rules.drop(func(r api.Rule) bool { return r.ID == msg.removed })
			s.refresh()
		default:
			return tea.Batch(notify(msg.text), s.load())
		}
		return notify(msg.text)
	case checkedMsg:
		if msg.err != nil {
			s.answer = nil
			return fail(msg.err)
		}
		s.asked, s.answer = msg.asked, &msg.answer
	case tea.KeyMsg:
		return s.handleKey(msg)
	}
	return nil
}

func (s *policiesSection) handleKey(msg tea.KeyMsg) tea.Cmd {
	if s.detail != nil {
		if key.Matches(msg, s.keys.Follow) {
			if cmd := ruleJump(s.opened); cmd != nil {
				s.detail = nil
				return cmd
			}
			return nil
		}
		cmd, closed := s.detail.update(msg)
		if closed {
			s.detail = nil
		}
		return cmd
	}
	if s.whatIf != nil {
		state, cmd := s.whatIf.update(msg)
		if state == formCancelled {
			s.whatIf, s.answer = nil, nil
		}
		return cmd
	}
	if cmd, ok := s.pane.handleFilterKey(msg, s.list, s.refresh, s.search); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, s.list.Refresh):
		return s.load()
	case key.Matches(msg, s.keys.Add) && s.acc.can(routePolicyAdd):
		return openForm(s.addForm())
	case key.Matches(msg, s.keys.Import) && s.acc.can(routePolicyImport):
		return openForm(s.importForm())
	case key.Matches(msg, s.keys.WhatIf) && s.acc.can(routePolicyCheck):
		s.whatIf = s.whatIfForm()
		s.whatIf.setWidth(s.pane.width)
		return nil
	case key.Matches(msg, s.keys.Open):
		if r, ok := atCursor(&s.pane, s.shown); ok {
			s.opened = r
			s.detail = newDetailView(ruleDetail(r), s.pane.width, s.pane.height, s.keys.Close)
		}
		return nil
	case key.Matches(msg, s.keys.Remove) && s.acc.can(routePolicyRemove):
		r, ok := atCursor(&s.pane, s.shown)
		if !ok {
			return nil
		}
		return ask(fmt.Sprintf("Remove rule %s: %s? What it %s stops at the next request.",
			r.ID, ruleText(r), map[bool]string{true: "grants", false: "links"}[r.Type == "p"]), s.remove(r))
	}
	cmd := s.pane.updateTable(msg)
	return tea.Batch(cmd, s.rules.moreNear(s.pane.table.Cursor(), len(s.shown)))
}

func (s *policiesSection) refresh() {
	s.shown = showMatching(&s.pane, s.rules.items, ruleMatches, ruleRow, func(r api.Rule) string { return r.ID })
}

// ruleMatches reports whether the filter q finds r in its policy.csv line.
func ruleMatches(r api.Rule, q string) bool { return containsFold(q, ruleText(r)) }

// ruleRow is r's row in the rules table: id, type and up to four values.
func ruleRow(r api.Rule) table.Row {
	cells := append([]string{r.ID, r.Type}, r.Rule...)
	for len(cells) < 6 {
		cells = append(cells, "")
	}
	return table.Row(cells[:6])
}

// jump searches the rules for query.
func (s *policiesSection) jump(query string) tea.Cmd {
	s.detail, s.whatIf = nil, nil
	s.pane.filter.SetValue(query)
	s.refresh()
	return s.search()
}

func (s *policiesSection) view() string {
	if s.detail != nil {
		return s.detail.view()
	}
	if s.whatIf != nil {
		return s.whatIfView()
	}
	return s.pane.view(styleMuted.Render(fmt.Sprintf("%d shown of %s · p: subject, object, action, condition · g: member, role or group", len(s.shown), s.rules.count("rule", "rules"))))
}

func (s *policiesSection) whatIfView() string {
	out := s.whatIf.view() + "\n\n"
	if s.answer == nil {
		return out + styleMuted.Render("Fill in the request and press enter on the last field.")
	}
	verdict := styleBad.Render("DENIED")
	if s.answer.Allowed {
		verdict = styleGood.Render("ALLOWED")
	}
	q := s.asked
	out += fmt.Sprintf("%s  %s %s %s", styleBold.Render(verdict), printable(q.Subject), printable(q.Action), printable(q.Object))
	if q.Owner != "" {
		out += " (owner " + printable(q.Owner) + ")"
	}
	out += "\n"
	if len(s.answer.Matched) > 0 {
		out += styleLabel.Render("rule ") + printable(strings.Join(s.answer.Matched, ", ")) + "\n"
	}
	return out + wrapText(printable(s.answer.Explanation), s.pane.width)
}

func (s *policiesSection) shortHelp() []key.Binding {
	if s.pane.filtering {
		return filterKeys
	}
	if s.whatIf != nil {
		return []key.Binding{s.whatIf.keys.Submit, s.whatIf.keys.Next, s.keys.Close}
	}
	if s.detail != nil {
		return []key.Binding{s.keys.Follow, s.keys.Close}
	}
	return []key.Binding{s.keys.Add, s.keys.Remove, s.keys.Import, s.keys.WhatIf, s.list.Filter}
}

func (s *policiesSection) fullHelp() [][]key.Binding {
	return [][]key.Binding{{s.keys.Add, s.keys.Remove, s.keys.Import, s.keys.WhatIf, s.keys.Close}, {s.keys.Open, s.keys.Follow}, s.list.navigation()}
}

func (s *policiesSection) addForm() *form {
	client := s.client
	f := newForm("Add a rule", func(v []string) (tea.Cmd, error) {
		in, err := parseRule(v[0])
		if err != nil {
			return nil, err
		}
		return func() tea.Msg {
			r, err := client.AddPolicy(context.Background(), in)
			return policyChangedMsg{text: "added rule " + r.ID + ": " + ruleText(r), err: err, added: &r}
		}, nil
	}, textField("Rule", "", "e.g. p, role:editor, /api/notes/:id, GET, *"))
	f.intro = "One line as in policy.csv: p, subject, object, action, condition\nor g, member, role or group. Condition is *, owner, mfa or totp."
	return f
}

func (s *policiesSection) importForm() *form {
	client := s.client
	f := newForm("Import rules from a CSV file", func(v []string) (tea.Cmd, error) {
		path := v[0]
		if path == "" {
			return nil, errors.New("which file?")
		}
		replace := strings.HasPrefix(strings.ToLower(v[1]), "y")
		run := func() tea.Msg {
			b, err := os.ReadFile(path)
			if err != nil {
				return policyChangedMsg{err: err}
			}
			res, err := client.ImportPolicies(context.Background(), api.PolicyImport{CSV: string(b), Replace: replace})
			return policyChangedMsg{text: fmt.Sprintf("imported %s: %d rules added, %d removed", path, res.Added, res.Removed), err: err}
		}
		if replace {
			return ask(fmt.Sprintf("Replace the whole policy with the rules in %s? Every rule that is not in that file is removed.", path), run), nil
		}
		return run, nil
	}, textField("File", "", "e.g. policy.csv"), textField("Replace all", "no", "yes or no"))
	f.intro = "Rules in the file are added. With replace, rules not in the file are removed."
	return f
}

func (s *policiesSection) whatIfForm() *form {
	client := s.client
	f := newForm("What if…", func(v []string) (tea.Cmd, error) {
		if v[0] == "" || v[1] == "" || v[2] == "" {
			return nil, errors.New("subject, object and action are needed")
		}
		q := api.CheckRequest{Subject: v[0], Object: v[1], Action: strings.ToUpper(v[2]), Owner: v[3]}
		return func() tea.Msg {
			a, err := client.CheckPolicy(context.Background(), q)
			return checkedMsg{asked: q, answer: a, err: err}
		}, nil
	},
		textField("Subject", "", "e.g. user:7, role:editor, group:staff, anonymous"),
		textField("Object", "", "e.g. /api/notes/:id"),
		textField("Action", "", "e.g. GET"),
		textField("Owner", "", "e.g. user:7 (for owner-only rules; optional)"),
	)
	return f
}

func (s *policiesSection) remove(r api.Rule) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		err := client.RemovePolicy(context.Background(), r.ID)
		return policyChangedMsg{text: "removed rule " + r.ID + ": " + ruleText(r), err: err, removed: r.ID}
	}
}

// ruleDetail explains one rule in words.
func ruleDetail(r api.Rule) string {
	lines := [][2]string{{"As CSV", ruleText(r)}}
	switch {
	case r.Type == "p" && len(r.Rule) == 4:
		cond := map[string]string{"*": "always", "owner": "only on what the caller owns",
			"mfa": "with the second factor proven, for who has one", "totp": "only with the second factor proven"}[r.Rule[3]]
		if cond == "" {
			cond = r.Rule[3]
		}
		lines = append(lines,
			[2]string{"Grants", r.Rule[0] + " may " + r.Rule[2] + " " + r.Rule[1]},
			[2]string{"Condition", cond})
	case r.Type == "g" && len(r.Rule) == 2:
		lines = append(lines, [2]string{"Links", r.Rule[0] + " holds everything " + r.Rule[1] + " holds"})
	}
	if ruleJump(r) != nil {
		lines = append(lines, [2]string{"J", "jumps to " + r.Rule[0]})
	}
	return detailText("Rule "+r.ID, lines)
}

// ruleJump is the jump to a rule's subject: a group's members, a user's
// page, or the other rules of a role.
func ruleJump(r api.Rule) tea.Cmd {
	if len(r.Rule) == 0 {
		return nil
	}
	sub := r.Rule[0]
	if name, ok := strings.CutPrefix(sub, "group:"); ok {
		return jump("groups", name)
	}
	if id, ok := strings.CutPrefix(sub, "user:"); ok {
		return jump("users", id)
	}
	if strings.HasPrefix(sub, "role:") {
		return jump("policies", sub)
	}
	return nil
}

// ruleText is a rule as a line of policy.csv.
func ruleText(r api.Rule) string {
	return strings.Join(append([]string{r.Type}, r.Rule...), ", ")
}

// parseRule reads a line of policy.csv. A p rule without a condition gets
// "*", which is what the seed policy writes for "no condition".
func parseRule(line string) (api.RuleInput, error) {
	rd := csv.NewReader(strings.NewReader(line))
	rd.TrimLeadingSpace = true
	rec, err := rd.Read()
	if err != nil {
		return api.RuleInput{}, fmt.Errorf("not a CSV line: %w", err)
	}
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	switch {
	case rec[0] == "p" && (len(rec) == 4 || len(rec) == 5):
		if len(rec) == 4 {
			rec = append(rec, "*")
		}
		return api.RuleInput{Type: "p", Rule: rec[1:]}, nil
	case rec[0] == "g" && len(rec) == 3:
		return api.RuleInput{Type: "g", Rule: rec[1:]}, nil
	}
	return api.RuleInput{}, errors.New("write p, subject, object, action[, condition] or g, member, role")
}

// wrapText wraps text to width.
func wrapText(text string, width int) string {
	return styleMuted.Width(max(width, 10)).Render(text)
}
