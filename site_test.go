package spamrun_test

import (
	"testing"

	"github.com/spamrun/spamrun"
)

func TestUploadDir(t *testing.T) {
	for _, tt := range []struct {
		dir, want string
	}{
		{"/var/www/blog/wp-content/uploads/2026/11", "/var/www/blog/wp-content/uploads"},
		{"/var/www/site1/public_html", ""},
		// The system's /tmp and /srv/files are not the site's.
		{"/tmp/build-42/www/shop1", ""},
		{"/srv/files/shop1", ""},
		{"/srv/files/shop1/images", "/srv/files/shop1/images"},
		// The deepest one, in the case it is written in.
		{"/home/shop/public_html/Images/Cache/thumbs", "/home/shop/public_html/Images/Cache"},
		{"/home/shop/public_html/.well-known/acme-challenge", "/home/shop/public_html/.well-known"},
		// The developer's own assets hold code.
		{"/var/www/shop/wp-content/themes/shop/assets/php", ""},
		// Whole names only.
		{"/var/www/shop/uploads-old/x", ""},
		// Relative to the site's root: every level counts.
		{"wp-content/uploads/2026", "wp-content/uploads"},
		{"tmp", "tmp"},
		{".", ""},
		{"", ""},
	} {
		if got := spamrun.UploadDir(tt.dir); got != tt.want {
			t.Errorf("UploadDir(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}
