//go:build !race

package main

// raceEnabled says the tests run under the race detector: the gatehouse
// binary they build is built with it too.
const raceEnabled = false
