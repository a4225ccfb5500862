package version

import (
	"runtime/debug"
	"testing"
)

func TestString(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "0.1.0~git20261205.8bb0d6f"
	if got := String(); got != Version {
		t.Errorf("String() = %q with Version set to %q", got, Version)
	}
}

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, "devel"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "8bb0d6f2a1c3d4e5f60718293a4b5c6d7e8f9012"}}, "0.0.0+git8bb0d6f2a1c3"},
		{[]debug.BuildSetting{
			{Key: "vcs.revision", Value: "8bb0d6f2a1c3d4e5f60718293a4b5c6d7e8f9012"},
			{Key: "vcs.modified", Value: "true"},
		}, "0.0.0+git8bb0d6f2a1c3-dirty"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "false"}}, "devel"},
	} {
		if got := fromBuildInfo(tc.settings); got != tc.want {
			t.Errorf("fromBuildInfo(%v) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}
