package tui

import (
	"github.com/charmbracelet/bubbles/table"
	"github.com/charmbracelet/lipgloss"
)

// Colours are ANSI 256 numbers so that they degrade to nothing on a plain
// terminal (and in the golden files, which are rendered without colour).
var (
	colourAccent = lipgloss.Color("63")
	colourMuted  = lipgloss.Color("245")
	colourGood   = lipgloss.Color("42")
	colourBad    = lipgloss.Color("203")
	colourWarn   = lipgloss.Color("214")
)

// styles of the console, in one place so that every section looks alike.
var (
	styleBrand     = lipgloss.NewStyle().Bold(true).Foreground(colourAccent)
	styleMuted     = lipgloss.NewStyle().Foreground(colourMuted)
	styleGood      = lipgloss.NewStyle().Foreground(colourGood)
	styleBad       = lipgloss.NewStyle().Foreground(colourBad)
	styleWarn      = lipgloss.NewStyle().Foreground(colourWarn)
	styleBold      = lipgloss.NewStyle().Bold(true)
	styleTab       = lipgloss.NewStyle().Foreground(colourMuted)
	styleActiveTab = lipgloss.NewStyle().Bold(true).Underline(true).Foreground(colourAccent)
	styleLabel     = lipgloss.NewStyle().Foreground(colourMuted)
	styleTitle     = lipgloss.NewStyle().Bold(true)
	styleDialog    = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(colourAccent).Padding(0, 1)
	styleDanger    = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(colourBad).Padding(0, 1)
)

// tableStyles are the bubbles table styles of every list in the console.
func tableStyles() table.Styles {
	s := table.DefaultStyles()
	s.Header = s.Header.Foreground(colourMuted).BorderStyle(lipgloss.NormalBorder()).BorderBottom(false)
	s.Selected = s.Selected.Foreground(lipgloss.Color("229")).Background(colourAccent).Bold(false)
	return s
}
