package xormask_test

import (
	"fmt"

	"github.com/lariat-ws/lariat/internal/xormask"
)

// The masked "Hello" of RFC 6455 §5.7, key 37 fa 21 3d, unmasked out of
// a read buffer into a message buffer: the answer says that the text
// needs no UTF-8 validation.
func ExampleXORCopy() {
	wire := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	msg := make([]byte, len(wire))
	ascii := xormask.XORCopy(msg, wire, 0x3d21fa37)
	fmt.Printf("%s %v\n", msg, ascii)
	// Output: Hello true
}
