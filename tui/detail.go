package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
)

// detailView is a scrollable page about one item of a list, shown in the
// list's place until the back key closes it.
type detailView struct {
	page viewport.Model
	back key.Binding
}

// newDetailView shows text, with a line saying how to go back under it, in
// width by height.
func newDetailView(text string, width, height int, back key.Binding) *detailView {
	page := viewport.New(width, height)
	page.SetContent(text + "\n" + styleMuted.Render("esc back"))
	return &detailView{page: page, back: back}
}

// setSize gives the page its width and height.
func (d *detailView) setSize(width, height int) {
	d.page.Width, d.page.Height = width, height
}

// update scrolls the page; closed reports that msg was the back key, after
// which the section shows its list again.
func (d *detailView) update(msg tea.KeyMsg) (cmd tea.Cmd, closed bool) {
	if key.Matches(msg, d.back) {
		return nil, true
	}
	d.page, cmd = d.page.Update(msg)
	return cmd, false
}

// view renders the visible part of the page.
func (d *detailView) view() string { return d.page.View() }

// detailText lays out label/value pairs under a title.
func detailText(title string, lines [][2]string) string {
	var b strings.Builder
	b.WriteString(styleTitle.Render(printable(title)) + "\n\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %s\n", styleLabel.Render(fmt.Sprintf("%-11s", l[0])), printableLines(l[1]))
	}
	return b.String()
}
