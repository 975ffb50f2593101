//go:build !unix

package app

import "errors"

// setReceiveBuffer is only written for unix sockets.
func setReceiveBuffer(fd uintptr, bytes int) error {
	return errors.New("setting SO_RCVBUF before connect is only done on unix here")
}
