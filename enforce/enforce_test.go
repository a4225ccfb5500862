package enforce_test

import (
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

func testIncident(site string) *spamrun.Incident {
	t0 := spamruntest.T0
	return &spamrun.Incident{
		ID:     "inc-20261102-0001",
		Site:   site,
		Time:   t0,
		Policy: spamrun.DefaultPolicy(),
		Count:  11,
		Messages: []spamrun.SpamEvent{{
			Time:       t0.Add(-time.Minute),
			Score:      9.5,
			Rules:      []string{"PHARMA", "URL_SHORTENER"},
			Sender:     "www-data@shop1.example",
			Recipients: 40,
			Subject:    "cheap pills",
			Evidence:   spamrun.Evidence{Script: "1001:/var/www/shop1/uploads/x.php", UID: 1001},
		}},
	}
}
