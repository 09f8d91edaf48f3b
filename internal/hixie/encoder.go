package hixie

import (
	"bytes"
	"fmt"
	"strings"
)

// CloseFrame is the hixie-76 closing frame: a frame of type 0xFF with
// length 0. A server that closes writes it, then reads until it receives
// the same bytes or the connection ends (Decoder reports EventClose);
// one that receives it first answers with it and closes the TCP
// connection. Hixie-75 has no closing frame: a hixie-75 server just closes
// the TCP connection.
const CloseFrame = "\xff\x00"

// AppendText appends to dst the text frame that carries p: 0x00, p, 0xFF.
// The frame has no length, so p must not contain 0xFF; valid UTF-8 never
// does. For such a p it returns dst unchanged and an error that wraps
// ErrFrame. AppendText does not validate the rest of the UTF-8.
func AppendText(dst, p []byte) ([]byte, error) {
	if i := bytes.IndexByte(p, 0xff); i >= 0 {
		return dst, unframeable(i)
	}
	dst = append(dst, 0x00)
	dst = append(dst, p...)
	return append(dst, 0xff), nil
}

// AppendTextString is AppendText for a string.
func AppendTextString(dst []byte, s string) ([]byte, error) {
	if i := strings.IndexByte(s, 0xff); i >= 0 {
		return dst, unframeable(i)
	}
	dst = append(dst, 0x00)
	dst = append(dst, s...)
	return append(dst, 0xff), nil
}

func unframeable(offset int) error {
	return fmt.Errorf("%w: text holds byte 0xFF at offset %d, which would end its frame", ErrFrame, offset)
}
