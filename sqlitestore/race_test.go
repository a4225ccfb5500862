//go:build race

package sqlitestore

// raceEnabled scales the multi-process tests down under the race detector,
// where every child process is a race-enabled binary several times slower;
// the number of processes, which is what contends, stays.
const raceEnabled = true
