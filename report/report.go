// Package report explains an incident: what the run looked like, which
// script sent it, and whether that script is a form the site has had for
// years and an abuser fed, or a mailer someone uploaded. It turns a
// spamrun.Incident into a Report of ranked findings, each with the facts it
// rests on and the advice that goes with it, and writes the report as text,
// JSON or a self-contained HTML page with a timeline of the run.
package report

import (
	"time"

	"github.com/spamrun/spamrun"
)

// Cause is what a finding says sent the run.
type Cause string

const (
	// AbusedForm is a long-standing script of the site, a contact,
	// guestbook or tell-a-friend form or a CMS entry point, that an abuser
	// fed addresses and text: one template to many outside recipients.
	AbusedForm Cause = "abused-form"
	// UploadedScript is a script that had never sent mail before, in a
	// directory where uploads and caches live, recently written, sending
	// varied content or phishing: the site was hacked.
	UploadedScript Cause = "uploaded-script"
	// Bulk is the site's own bulk mail, a newsletter, marked as spam: a
	// false positive, not an attack.
	Bulk Cause = "legitimate-bulk"
	// Unknown says the evidence is too thin for any of these.
	Unknown Cause = "unknown"
)

// Report is the explanation of one incident.
type Report struct {
	Incident  *spamrun.Incident `json:"incident"`
	Generated time.Time         `json:"generated"`
	// ArticleURL is the article the DSNs link to, which explains to the
	// site's owner what happened and what to do.
	ArticleURL string `json:"article_url,omitempty"`
	// Summary describes the run as a whole.
	Summary Summary `json:"summary"`
	// Findings are the possible causes, most confident first; never empty,
	// since "unknown" is a finding too.
	Findings []Finding `json:"findings"`
	// Scripts are the scripts that sent mail during the run, the ones that
	// sent the most spam-marked mail first, then by Key.
	Scripts []Script `json:"scripts"`
	// Timeline counts the site's accepted mail per minute, from the
	// incident's activity, with empty minutes filled in, in time order.
	Timeline []Point `json:"timeline"`
	// Marks are the moments the timeline marks, in time order.
	Marks []Mark `json:"marks"`
}

// Summary describes a run.
type Summary struct {
	// Start and End are the times of the first and the last spam-marked
	// message of the window.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Spam is the number of spam-marked messages in the window, Legit the
	// number of other messages the site sent between Start and the trip.
	Spam  int `json:"spam"`
	Legit int `json:"legit"`
	// Recipients is the sum of the spam-marked messages' recipients, and
	// Domains the number of distinct recipient domains among them.
	Recipients int `json:"recipients"`
	Domains    int `json:"domains"`
	// Senders, Subjects, Rules and Links count what the spam-marked
	// messages had, most frequent first.
	Senders  []Count `json:"senders,omitempty"`
	Subjects []Count `json:"subjects,omitempty"`
	Rules    []Count `json:"rules,omitempty"`
	Links    []Count `json:"links,omitempty"`
	// Doors count how the spam-marked messages reached spamrun: sendmail,
	// the SMTP listener, or a connection the egress lock redirected, with
	// where it was going (see Door).
	Doors []Count `json:"doors,omitempty"`
}

// Count is a value and how many spam-marked messages had it.
type Count struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

// Script is one script that sent mail during the run.
type Script struct {
	// Key is the spamrun.ScriptKey: the X-PHP-Originating-Script, or
	// "cwd:" and the directory.
	Key string `json:"key"`
	// Path is the script's file when it is known, Cwd the caller's working
	// directory of its latest message.
	Path string `json:"path,omitempty"`
	Cwd  string `json:"cwd,omitempty"`
	// Spam and Legit count its messages during the run: the spam-marked
	// ones in the window, and the others from the activity.
	Spam  int `json:"spam"`
	Legit int `json:"legit"`
	// History is what the site's script history knew at the trip; nil
	// when the store keeps none.
	History *spamrun.ScriptSeen `json:"history,omitempty"`
	// New says the script first sent mail during the run.
	New bool `json:"new"`
	// File is the stat taken when it last sent a spam-marked message.
	File *spamrun.ScriptFile `json:"file,omitempty"`
	// Markers are what the script's code holds of mail sending and web
	// shells, when the file could be read when the report was made.
	Markers []string `json:"markers,omitempty"`
}

// Finding is one possible cause with the facts it rests on.
type Finding struct {
	Cause Cause `json:"cause"`
	// Script is the Key of the script the finding blames; "" for Unknown.
	Script string `json:"script,omitempty"`
	Path   string `json:"path,omitempty"`
	// Confidence is between 0 and 1; see Level.
	Confidence float64 `json:"confidence"`
	// Title says the finding in one line.
	Title string `json:"title"`
	// Facts are the evidence, each one line.
	Facts []string `json:"facts"`
	// Advice is what the operator and the site's owner should do.
	Advice []string `json:"advice"`
}

// Level names a confidence: "high" from 0.75, "medium" from 0.5, else "low".
func (f Finding) Level() string {
	switch {
	case f.Confidence >= 0.75:
		return "high"
	case f.Confidence >= 0.5:
		return "medium"
	}
	return "low"
}

// Point is one minute of the timeline.
type Point struct {
	Time  time.Time `json:"time"`
	Legit int       `json:"legit"`
	Spam  int       `json:"spam"`
}

// MarkKind is what a Mark marks.
type MarkKind string

const (
	// FirstSpam is the first spam-marked message of the window.
	FirstSpam MarkKind = "first-spam"
	// Trip is the message that went over the policy's limit; the site was
	// disabled at that moment and its mail refused from then on.
	Trip MarkKind = "trip"
	// Disabled is when the site was disabled.
	Disabled MarkKind = "disabled"
)

// Mark is a moment on the timeline.
type Mark struct {
	Time  time.Time `json:"time"`
	Kind  MarkKind  `json:"kind"`
	Label string    `json:"label"`
}
