// Package version names the spamrun release a binary was built from.
//
// The release is set when linking, from the git tag of the checkout:
//
//	go build -ldflags "-X github.com/spamrun/spamrun/internal/version.Version=$(git describe --tags --always --dirty)"
//
// scripts/build-deb.sh and scripts/install.sh do so. A binary built
// without it (go build, go test) names the commit the Go toolchain
// recorded, as 0.0.0+git<sha>, or "devel" outside a checkout.
package version

import "runtime/debug"

// Version is the release, set with -ldflags -X; empty in a plain build.
var Version string

// String returns the release this binary was built from.
func String() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(info.Settings)
}

// fromBuildInfo names a build by the commit in its settings, marking a
// build from a modified tree as git describe does.
func fromBuildInfo(settings []debug.BuildSetting) string {
	var rev, dirty string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return "0.0.0+git" + rev + dirty
}
