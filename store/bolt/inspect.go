package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// inspect checks, read-only, that bbolt can safely use an existing file.
//
// bbolt trusts its file: it follows page pointers and key lengths straight
// into its memory map, so a damaged file can make it fault (a crash no
// recover catches) or write new pages over live ones. Before the file is
// opened for writing, inspect walks every reachable page through plain
// reads, checking that each pointer and length stays inside the file, and
// then runs bbolt's own consistency check, which is safe once the walk
// passed. It costs one read of the file at start-up.
func inspect(path string, lockTimeout time.Duration) error {
	// The read-only open takes a shared lock: no writer changes the file
	// while it is inspected, and a running server makes this ErrInUse.
	b, err := openBolt(path, &bbolt.Options{Timeout: lockTimeout, ReadOnly: true})
	if err != nil {
		return err
	}
	defer b.Close()
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("store: %s: %w (%s)", path, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	w := &pageWalker{r: f, pageSize: int64(b.Info().PageSize), seen: map[uint64]bool{}}
	m, err := w.meta()
	if err != nil {
		return damaged("%v", err)
	}
	if need := int64(m.pgid) * w.pageSize; fi.Size() < need {
		return damaged("the file has %d bytes, its data needs %d: it was cut short", fi.Size(), need)
	}
	w.hwm = m.pgid
	if err := w.tree(m.root, 0); err != nil {
		return damaged("%v", err)
	}
	if m.freelist != noFreelist {
		if err := w.freelist(m.freelist); err != nil {
			return damaged("%v", err)
		}
	}
	return b.View(func(tx *bbolt.Tx) error {
		var problems []error
		for err := range tx.Check(bbolt.WithKVStringer(lengthStringer{})) {
			problems = append(problems, err)
		}
		switch len(problems) {
		case 0:
			return nil
		case 1:
			return damaged("%v", problems[0])
		}
		return damaged("%v, and %d more problems", problems[0], len(problems)-1)
	})
}

// lengthStringer names keys and values by their length in bbolt's check
// messages: their bytes are users' data, and do not belong in a log.
type lengthStringer struct{}

func (lengthStringer) KeyToString(k []byte) string   { return fmt.Sprintf("<%d bytes>", len(k)) }
func (lengthStringer) ValueToString(v []byte) string { return fmt.Sprintf("<%d bytes>", len(v)) }

// bbolt's file format (version 2), as far as the walk needs it. Integers
// are in the machine's byte order.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	bucketLeafFlag   = 0x01
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	metaSize         = 56 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid u64
	noFreelist       = ^uint64(0)
	maxBucketNesting = 64
)

var ne = binary.NativeEndian

// boltMeta is the part of a meta page the walk uses.
type boltMeta struct {
	root, freelist, pgid, txid uint64
}

// pageWalker reads the pages of a bbolt file with ReadAt, so that a bad
// pointer is an error rather than a fault.
type pageWalker struct {
	r        io.ReaderAt
	pageSize int64
	hwm      uint64 // pages below this id are in use or free
	seen     map[uint64]bool
}

// meta returns the newer of the two meta pages whose checksum holds, as
// bbolt does.
func (w *pageWalker) meta() (boltMeta, error) {
	var best boltMeta
	found := false
	for id := range int64(2) {
		buf := make([]byte, pageHeaderSize+metaSize+8)
		if _, err := w.r.ReadAt(buf, id*w.pageSize); err != nil {
			continue
		}
		m := buf[pageHeaderSize:]
		h := fnv.New64a()
		h.Write(m[:metaSize])
		if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || h.Sum64() != ne.Uint64(m[metaSize:]) {
			continue
		}
		cand := boltMeta{root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]), pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}
		if !found || cand.txid > best.txid {
			best, found = cand, true
		}
	}
	if !found {
		return best, errors.New("no valid meta page")
	}
	return best, nil
}

// page reads page id with its overflow pages.
func (w *pageWalker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("a pointer to page %d, outside pages 2 to %d", id, w.hwm-1)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.r.ReadAt(hdr, int64(id)*w.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if overflow >= w.hwm-id {
		return nil, fmt.Errorf("page %d runs %d pages past the end of the data", id, overflow-(w.hwm-id)+1)
	}
	buf := make([]byte, int64(overflow+1)*w.pageSize)
	if _, err := w.r.ReadAt(buf, int64(id)*w.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return buf, nil
}

// tree walks the b+tree rooted at page id.
func (w *pageWalker) tree(id uint64, depth int) error {
	if w.seen[id] {
		return fmt.Errorf("page %d is referenced twice", id)
	}
	w.seen[id] = true
	p, err := w.page(id)
	if err != nil {
		return err
	}
	return w.node(id, p, depth)
}

// node checks the elements of one page (p holds it whole, overflow
// included; an inline bucket's page is a slice of its parent's value) and
// walks its children.
func (w *pageWalker) node(id uint64, p []byte, depth int) error {
	if depth > maxBucketNesting*8 {
		return fmt.Errorf("page %d: the tree is nested too deep", id)
	}
	if len(p) < pageHeaderSize {
		return fmt.Errorf("page %d: shorter than a page header", id)
	}
	flags, count := ne.Uint16(p[8:]), int64(ne.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > int64(len(p)) {
		return fmt.Errorf("page %d: %d elements do not fit in it", id, count)
	}
	for i := range count {
		e := pageHeaderSize + i*elementSize
		el := p[e : e+elementSize]
		switch flags {
		case branchPageFlag:
			pos, ksize := int64(ne.Uint32(el[0:])), int64(ne.Uint32(el[4:]))
			if e+pos+ksize > int64(len(p)) {
				return fmt.Errorf("page %d: key %d lies past the end of the page", id, i)
			}
			if err := w.tree(ne.Uint64(el[8:]), depth+1); err != nil {
				return err
			}
		case leafPageFlag:
			eflags, pos := ne.Uint32(el[0:]), int64(ne.Uint32(el[4:]))
			ksize, vsize := int64(ne.Uint32(el[8:])), int64(ne.Uint32(el[12:]))
			end := e + pos + ksize + vsize
			if end > int64(len(p)) {
				return fmt.Errorf("page %d: entry %d lies past the end of the page", id, i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			// A nested bucket: its root page, or inline, its page.
			v := p[e+pos+ksize : end]
			if len(v) < 16 {
				return fmt.Errorf("page %d: bucket entry %d is too short", id, i)
			}
			var err error
			if root := ne.Uint64(v); root == 0 {
				err = w.node(id, v[16:], depth+1)
			} else {
				err = w.tree(root, depth+1)
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("page %d: neither a branch nor a leaf (flags %#x)", id, flags)
		}
	}
	return nil
}

// freelist checks that the free page ids fit in the freelist page.
func (w *pageWalker) freelist(id uint64) error {
	p, err := w.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	n := int64(ne.Uint16(p[10:]))
	start := int64(pageHeaderSize)
	if n == 0xFFFF {
		// The count overflowed into the first element.
		n = int64(ne.Uint64(p[pageHeaderSize:]))
		start += 8
	}
	if n < 0 || n > (int64(len(p))-start)/8 {
		return fmt.Errorf("freelist page %d: %d ids do not fit in it", id, n)
	}
	return nil
}
