package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapFloor is the heap size below which the server does not start a
// garbage collection.
//
// The collector's default (GOGC=100) starts a cycle whenever the heap has
// grown by as much as was live after the last one. A server whose live
// heap is a few megabytes (a small deployment, or a large one whose
// policy is small) then collects after every few thousand requests, and
// each cycle costs the same fixed work (every goroutine's stack scanned,
// the write barrier on while marking): measured with wrk on the request
// path, 38–42 µs of CPU per request at GOGC=100 against 32–36 µs with the
// collector started at a heap of about 25 MB. keepHeapFloor raises GOGC
// while the live heap is under half of heapFloor, so that a cycle starts
// when the heap reaches heapFloor; from a live heap of heapFloor/2 up
// (100k users and their policy, say) the default applies unchanged, and so
// does the memory it needs.
const heapFloor = 32 << 20

// keepHeapFloor adjusts GOGC after every garbage collection (a finalizer
// re-armed each cycle) until stop is called, which restores it. A GOGC set
// in the environment is left alone: the operator chose it. GOGC belongs to
// the process: when several servers run in one (tests), the first to start
// adjusts it and the last to stop restores it.
func keepHeapFloor(getenv func(string) string, floor uint64) (stop func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	floorMu.Lock()
	defer floorMu.Unlock()
	if floorUsers == 0 {
		floorGen++
		floorPrev = debug.SetGCPercent(100)
		debug.SetGCPercent(floorPrev)
		armHeapFloor(floorGen, floor, floorPrev)
	}
	floorUsers++
	var once sync.Once
	return func() {
		once.Do(func() {
			floorMu.Lock()
			defer floorMu.Unlock()
			if floorUsers--; floorUsers == 0 {
				floorGen++ // the armed finalizer ends its chain
				debug.SetGCPercent(floorPrev)
			}
		})
	}
}

// The process's heap floor: how many servers keep it, the generation of
// the running one (each start and stop makes a new one) and the GOGC to
// restore. floorMu guards them.
var (
	floorMu    sync.Mutex
	floorUsers int
	floorGen   int
	floorPrev  int
)

// armHeapFloor sets GOGC for floor after the next collection, and again
// after each one, while generation gen runs.
func armHeapFloor(gen int, floor uint64, last int) {
	// 32 bytes without pointers: big enough not to share a block of the
	// tiny allocator, whose objects' finalizers may never run.
	sentinel := new([32]byte)
	runtime.SetFinalizer(sentinel, func(*[32]byte) {
		floorMu.Lock()
		defer floorMu.Unlock()
		if gen != floorGen {
			return
		}
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(sample)
		if pct := gcPercentFor(sample[0].Value.Uint64(), floor); pct != last {
			debug.SetGCPercent(pct)
			last = pct
		}
		armHeapFloor(gen, floor, last)
	})
}

// gcPercentFor is the GOGC that starts the next collection at floor bytes
// of heap for a live heap of live bytes, and never less than the default.
func gcPercentFor(live, floor uint64) int {
	if live == 0 || 2*live >= floor {
		return 100
	}
	return int((floor - live) * 100 / live)
}
