package config_test

import (
	"fmt"

	"github.com/spamrun/spamrun/config"
)

func ExampleParse() {
	c, err := config.Parse("spamrun.toml", []byte(`
[policy]
max_spam = 10

[sites.shop1]
domains  = ["shop1.example"]
max_spam = 0   # trips on the first spam-marked message
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	shop1 := c.Policy("shop1")
	fmt.Println("shop1:", shop1.MaxSpam, shop1.Window, shop1.HoldFor)
	fmt.Println("others:", c.Policy("blog").MaxSpam)

	_, err = config.Parse("spamrun.toml", []byte("[policy]\nmax_spam = -1\nwindw = \"1h\"\n"))
	fmt.Println(err)
	// Output:
	// shop1: 0 1h0m0s 15m0s
	// others: 10
	// spamrun.toml:2: policy.max_spam: -1 is negative
	// spamrun.toml:3: policy.windw: unknown key
}
