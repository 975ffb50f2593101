package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{4 << 20, 32 << 20, 700},   // the next cycle at 4 + 28 MB
		{8 << 20, 32 << 20, 300},   // at 8 + 24 MB
		{16 << 20, 32 << 20, 100},  // half the floor: the default
		{200 << 20, 32 << 20, 100}, // a large live heap: the default
		{0, 32 << 20, 100},         // nothing measured yet
	} {
		if got := gcPercentFor(c.live, c.floor); got != c.want {
			t.Errorf("gcPercentFor(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

// gogc is the GOGC the runtime uses now.
func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeapFloorFollowsCollections: after a collection, GOGC is raised so
// that the next one starts at the floor; stop restores it; a GOGC set in
// the environment is left alone.
func TestHeapFloorFollowsCollections(t *testing.T) {
	before := gogc()
	noEnv := func(string) string { return "" }
	stop := keepHeapFloor(noEnv, 1<<40) // far above this test binary's live heap
	deadline := time.Now().Add(10 * time.Second)
	for gogc() <= 100 {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("GOGC still %d 10s after collections with a live heap far under the floor", gogc())
		}
		runtime.GC() // the finalizer runs after a cycle, on its own goroutine
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if got := gogc(); got != before {
		t.Fatalf("GOGC %d after stop, want %d as before", got, before)
	}
	runtime.GC()
	runtime.GC()
	if got := gogc(); got != before {
		t.Fatalf("GOGC %d after stop and collections, want %d", got, before)
	}

	stop = keepHeapFloor(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	}, 1<<40)
	defer stop()
	runtime.GC()
	runtime.GC()
	if got := gogc(); got != before {
		t.Fatalf("with GOGC in the environment: GOGC %d, want %d untouched", got, before)
	}
}
