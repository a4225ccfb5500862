package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
)

// LockTable is the nftables table of the egress lock.
const LockTable = "inet spamrun"

// lockReader reads the egress lock once, when a door first needs it.
type lockReader struct {
	nft  string
	once sync.Once
	lock *lock
	err  error
}

// lock is the egress lock as nft -j lists it: its rules, and its named
// sets, which rules refer to as "@name".
type lock struct {
	absent bool // no table inet spamrun
	rules  []lockRule
	sets   map[string][]json.RawMessage
}

// lockRule is a rule of the lock that may stop a connection: it
// redirects, rejects or drops.
type lockRule struct {
	chain   string
	handle  int
	action  string
	matches []nftMatch
}

type nftMatch struct {
	Op    string          `json:"op"`
	Left  json.RawMessage `json:"left"`
	Right json.RawMessage `json:"right"`
}

// judge decides a door that did not answer by the lock.
func (lr *lockReader) judge(ctx context.Context, u User, addr string, o observation) (Status, bool, string) {
	lr.once.Do(func() { lr.lock, lr.err = readLock(ctx, lr.nft) })
	what := "no answer"
	if o.Outcome == unreachable {
		what = "unreachable"
	}
	if lr.err != nil {
		return Open, true, fmt.Sprintf("%s (%s), and the egress lock cannot be read: %v", what, o.Detail, lr.err)
	}
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	if r, ok := lr.lock.covers(u.UID, port); ok {
		verb := map[string]string{"redirect": "redirects", "dnat": "redirects", "reject": "rejects", "drop": "drops"}[r.action]
		return Closed, true, fmt.Sprintf("%s; the egress lock %s port %d for this user (table %s, chain %s, rule %d)", what, verb, port, LockTable, r.chain, r.handle)
	}
	if lr.lock.absent {
		return Open, true, fmt.Sprintf("%s, and there is no egress lock (table %s): another address may answer", what, LockTable)
	}
	return Open, true, fmt.Sprintf("%s, and no rule of the egress lock covers port %d for this user: another address may answer", what, port)
}

// readLock lists the table of the egress lock.
func readLock(ctx context.Context, nft string) (*lock, error) {
	if nft == "" {
		nft = "nft"
	}
	family, name, _ := strings.Cut(LockTable, " ")
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, nft, "-j", "list", "table", family, name)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "No such file or directory") {
			return &lock{absent: true}, nil
		}
		return nil, fmt.Errorf("%s -j list table %s: %v: %s", nft, LockTable, err, strings.TrimSpace(stderr.String()))
	}
	return parseLock(out)
}

// parseLock reads the output of nft -j list table.
func parseLock(out []byte) (*lock, error) {
	var doc struct {
		Nftables []struct {
			Set *struct {
				Name string            `json:"name"`
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
			Rule *struct {
				Chain  string                       `json:"chain"`
				Handle int                          `json:"handle"`
				Expr   []map[string]json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("reading the ruleset of table %s: %w", LockTable, err)
	}
	l := &lock{sets: make(map[string][]json.RawMessage)}
	for _, obj := range doc.Nftables {
		if obj.Set != nil {
			l.sets[obj.Set.Name] = obj.Set.Elem
		}
		if obj.Rule == nil {
			continue
		}
		r := lockRule{chain: obj.Rule.Chain, handle: obj.Rule.Handle}
		for _, e := range obj.Rule.Expr {
			for _, stmt := range []string{"redirect", "dnat", "reject", "drop"} {
				if _, ok := e[stmt]; ok {
					r.action = stmt
				}
			}
			if raw, ok := e["match"]; ok {
				var m nftMatch
				if err := json.Unmarshal(raw, &m); err != nil {
					return nil, fmt.Errorf("reading rule %d of table %s: %w", r.handle, LockTable, err)
				}
				r.matches = append(r.matches, m)
			}
		}
		if r.action != "" {
			l.rules = append(l.rules, r)
		}
	}
	return l, nil
}

// covers returns the first rule that stops the user's connections to
// port: one that matches the destination port, whose owner matches (meta
// skuid), if it has any, hold for the user. Its other matches, on
// addresses say, are taken to hold; the order of the rules, an accept
// before them say, is not followed. This is evidence for a door that did
// not answer, not a replay of nftables.
func (l *lock) covers(uid, port int) (lockRule, bool) {
	for _, r := range l.rules {
		onPort, holds := false, true
		for _, m := range r.matches {
			var left struct {
				Meta *struct {
					Key string `json:"key"`
				} `json:"meta"`
				Payload *struct {
					Protocol string `json:"protocol"`
					Field    string `json:"field"`
				} `json:"payload"`
			}
			if json.Unmarshal(m.Left, &left) != nil {
				continue
			}
			var in bool
			switch {
			case left.Payload != nil && left.Payload.Field == "dport" && (left.Payload.Protocol == "tcp" || left.Payload.Protocol == "th"):
				onPort = true
				in = l.contains(m.Right, port, lookupService)
			case left.Meta != nil && left.Meta.Key == "skuid":
				in = l.contains(m.Right, uid, lookupUID)
			default:
				continue
			}
			if m.Op == "!=" {
				in = !in
			}
			holds = holds && in
		}
		if onPort && holds {
			return r, true
		}
	}
	return lockRule{}, false
}

// contains reports whether the right side of a match holds x: a number,
// a name (a service or a user), an anonymous set, a range, or a named set.
func (l *lock) contains(raw json.RawMessage, x int, lookup func(string) (int, bool)) bool {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n == x
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if name, ok := strings.CutPrefix(s, "@"); ok {
			for _, e := range l.sets[name] {
				if l.contains(e, x, lookup) {
					return true
				}
			}
			return false
		}
		v, ok := lookup(s)
		return ok && v == x
	}
	var obj struct {
		Set   []json.RawMessage              `json:"set"`
		Range []json.RawMessage              `json:"range"`
		Elem  *struct{ Val json.RawMessage } `json:"elem"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return false
	}
	switch {
	case obj.Set != nil:
		for _, e := range obj.Set {
			if l.contains(e, x, lookup) {
				return true
			}
		}
	case len(obj.Range) == 2:
		var lo, hi int
		return json.Unmarshal(obj.Range[0], &lo) == nil && json.Unmarshal(obj.Range[1], &hi) == nil && lo <= x && x <= hi
	case obj.Elem != nil:
		return l.contains(obj.Elem.Val, x, lookup)
	}
	return false
}

// lookupService is the port of a service nft names instead of its number.
func lookupService(name string) (int, bool) {
	port, err := net.LookupPort("tcp", name)
	return port, err == nil
}

// lookupUID is the UID of a user nft names instead of its number.
func lookupUID(name string) (int, bool) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, false
	}
	uid, err := strconv.Atoi(u.Uid)
	return uid, err == nil
}
