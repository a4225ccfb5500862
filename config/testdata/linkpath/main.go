// Command linkpath prints the configuration file a privileged sendmail
// would read, for TestDefaultPathSetAtLinkTime.
package main

import (
	"fmt"

	"github.com/spamrun/spamrun/config"
)

func main() {
	evil := func(string) string { return "/home/site/evil.toml" }
	path, _ := config.Locate(evil, true)
	fmt.Println(path)
}
