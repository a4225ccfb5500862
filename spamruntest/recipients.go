package spamruntest

import "fmt"

// Recipients returns n distinct envelope recipients spread over seven
// domains, as a script sending with Bcc passes them: victim0@mail0.example,
// victim1@mail1.example, and so on.
func Recipients(n int) []string {
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("victim%d@mail%d.example", i, i%7)
	}
	return to
}
