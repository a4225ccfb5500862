package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
)

// topTerminal runs spamrun top as a full-screen view that refreshes every
// interval until the operator presses q.
func (e *env) topTerminal(collect func() *topView, interval time.Duration) error {
	m := &topModel{collect: collect, interval: interval, bar: newTopBar()}
	if _, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithOutput(e.stdout)).Run(); err != nil {
		return fmt.Errorf("the terminal view: %w", err)
	}
	return nil
}

// topBarWidth is the width of the spam bar on a terminal.
const topBarWidth = 20

// Colours of the view, which terminals without colour leave out.
const (
	colourCalm     = "#5f875f" // a bar under half full
	colourWarn     = "#d7af00" // half full or more
	colourTripped  = "#d75f5f" // full, and disabled sites
	colourBarEmpty = "#606060"
)

func newTopBar() progress.Model {
	return progress.New(progress.WithWidth(topBarWidth), progress.WithoutPercentage(), progress.WithSolidFill(colourCalm))
}

// topModel is the full-screen view, a bubbletea model. Each refresh
// gathers a view in a command of its own, and the next is due interval
// after it arrived, so a slow store slows the refreshes down instead of
// stacking them up.
type topModel struct {
	collect  func() *topView
	interval time.Duration
	view     *topView // nil until the first arrives
	height   int      // of the terminal; 0 until known
	bar      progress.Model
}

// topViewMsg carries a gathered view; topRefreshMsg says the next is due.
type (
	topViewMsg    struct{ view *topView }
	topRefreshMsg struct{}
)

// Init gathers the first view.
func (m *topModel) Init() tea.Cmd { return m.gather }

func (m *topModel) gather() tea.Msg { return topViewMsg{m.collect()} }

// Update quits on q, Esc or Ctrl-C and otherwise refreshes.
func (m *topModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "Q", "esc", "ctrl+c":
			return m, tea.Quit
		}
	case tea.WindowSizeMsg:
		m.height = msg.Height
	case topViewMsg:
		m.view = msg.view
		return m, tea.Tick(m.interval, func(time.Time) tea.Msg { return topRefreshMsg{} })
	case topRefreshMsg:
		return m, m.gather
	}
	return m, nil
}

var (
	topBold    = lipgloss.NewStyle().Bold(true)
	topDim     = lipgloss.NewStyle().Faint(true)
	topError   = lipgloss.NewStyle().Foreground(lipgloss.Color(colourTripped)).Bold(true)
	topCell    = lipgloss.NewStyle().PaddingRight(2)
	topTripped = topCell.Foreground(lipgloss.Color(colourTripped))
)

// View draws the header, the legend, the error if any, and the table.
func (m *topModel) View() string {
	v := m.view
	if v == nil {
		return "spamrun top: gathering the sites..."
	}
	var b strings.Builder
	b.WriteString(topBold.Render(v.header()) + "\n")
	b.WriteString(topDim.Render(v.legend()) + "\n")
	errs := v.errorLines()
	for _, l := range errs {
		b.WriteString(topError.Render("error: "+l) + "\n")
	}
	footer := fmt.Sprintf("refreshes every %s; q quits", fmtDuration(m.interval))
	rows := v.Rows
	// A view taller than the terminal would lose its top, the header;
	// the rows most in need of the operator come first and stay.
	if room := m.height - 4 - len(errs); m.height > 0 && len(rows) > room {
		rows = rows[:max(0, room)]
		footer = fmt.Sprintf("%d more sites below (spamrun top -n 1 lists them all); ", len(v.Rows)-len(rows)) + footer
	}
	switch {
	case len(rows) > 0:
		b.WriteString(m.table(rows).Render() + "\n")
	case len(v.Rows) == 0 && v.Error == "":
		b.WriteString("no sites: none configured, and none has sent mail or tripped\n")
	}
	// No newline after the last line, which would take one more.
	b.WriteString(topDim.Render(footer))
	return b.String()
}

// table lays the rows out, disabled sites in red. Lines wider than the
// terminal are cut at its edge.
func (m *topModel) table(rows []*topRow) *table.Table {
	t := table.New().Border(lipgloss.HiddenBorder()).
		BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).
		BorderColumn(false).BorderHeader(false).
		Headers(topColumns...).
		StyleFunc(func(row, col int) lipgloss.Style {
			style := topCell
			switch {
			case row == table.HeaderRow:
				style = style.Bold(true)
			case rows[row].Disabled:
				style = topTripped
			}
			if col == len(topColumns)-1 {
				style = style.UnsetPaddingRight()
			}
			return style
		})
	for _, r := range rows {
		t.Row(r.cells(m.drawBar(r))...)
	}
	return t
}

// drawBar draws the row's spam against max_spam, coloured by how full.
func (m *topModel) drawBar(r *topRow) string {
	bar := m.bar
	fill := r.barFill()
	switch {
	case fill >= 1 || r.Disabled:
		bar.FullColor = colourTripped
	case fill >= 0.5:
		bar.FullColor = colourWarn
	}
	bar.EmptyColor = colourBarEmpty
	return bar.ViewAs(fill)
}
