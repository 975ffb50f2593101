package access

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id at OWASP's recommended parameters (19 MiB,
// two passes, one lane), in the PHC string format.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16

	minPasswordLen = 12
	// MaxPasswordLen is the longest password an account may have, in
	// characters.
	MaxPasswordLen = 128
)

// hasher hashes and checks passwords with a bound on how many run at once:
// each takes 19 MiB, so a flood of logins must queue, not exhaust memory.
type hasher struct {
	slots chan struct{}
	// dummy is checked against when the email is unknown, so that unknown
	// emails and wrong passwords take the same time.
	dummy string
}

func newHasher(concurrency int) (*hasher, error) {
	if concurrency <= 0 {
		// A hash is one lane of CPU work: more at once than CPUs adds
		// memory (19 MiB each, and the heap grows to twice what is live
		// before a collection), not throughput.
		concurrency = runtime.NumCPU()
	}
	h := &hasher{slots: make(chan struct{}, concurrency)}
	var pw [24]byte
	_, _ = rand.Read(pw[:])
	dummy, err := h.hash(context.Background(), base64.RawStdEncoding.EncodeToString(pw[:]))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.slots }

// hash returns the PHC string of password with a fresh salt.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	h.release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("password hash: not an argon2id PHC string")

// verify reports whether password matches encoded, in constant time. An
// empty encoded hash is checked against the dummy, and never matches.
func (h *hasher) verify(ctx context.Context, password, encoded string) (bool, error) {
	match := encoded != ""
	if !match {
		encoded = h.dummy
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil {
		return false, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || mem > 1<<20 || iter > 16 || threads == 0 {
		return false, errBadHash
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(len(want)))
	h.release()
	return match && subtle.ConstantTimeCompare(got, want) == 1, nil
}

// CheckPassword returns the problem with a new password, or "".
func CheckPassword(pw string) string {
	if n := utf8.RuneCountInString(pw); n < minPasswordLen || n > MaxPasswordLen {
		return fmt.Sprintf("must be %d to %d characters", minPasswordLen, MaxPasswordLen)
	}
	return ""
}
