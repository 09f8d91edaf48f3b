package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
)

// pieceReader yields a message as a connection yields the payloads of
// its frames: each Read returns at most what is left of the current
// piece, and io.EOF after the last piece. Pieces are size bytes long
// (the whole message if size is 0), or, if cuts is set, 1+cuts[i] bytes
// for the i-th piece, cycling. It counts what was read and each Read
// after io.EOF.
type pieceReader struct {
	data        []byte
	size        int
	cuts        []byte
	eofWithData bool  // return io.EOF with the last bytes, not after them
	failAt      int   // with err: fail once this many bytes were read
	err         error // returned instead of data once failAt is reached

	off      int // bytes read
	end      int // end of the current piece
	piece    int // pieces begun
	eofs     int // io.EOF returned this many times
	afterEOF int // Reads after an io.EOF
}

// reset rewinds r onto data, keeping how it cuts and fails.
func (r *pieceReader) reset(data []byte, size int) {
	*r = pieceReader{data: data, size: size, cuts: r.cuts, eofWithData: r.eofWithData, failAt: r.failAt, err: r.err}
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if r.eofs > 0 {
		r.afterEOF++
	}
	if r.err != nil && r.off >= r.failAt {
		return 0, r.err
	}
	if r.off == len(r.data) {
		r.eofs++
		return 0, io.EOF
	}
	if r.off == r.end {
		r.end = min(len(r.data), r.off+r.pieceLen())
		r.piece++
	}
	end := r.end
	if r.err != nil {
		end = min(end, r.failAt)
	}
	n := copy(p, r.data[r.off:end])
	r.off += n
	if r.eofWithData && r.off == len(r.data) {
		r.eofs++
		return n, io.EOF
	}
	return n, nil
}

func (r *pieceReader) pieceLen() int {
	switch {
	case len(r.cuts) > 0:
		return 1 + int(r.cuts[r.piece%len(r.cuts)])
	case r.size > 0:
		return r.size
	}
	return len(r.data)
}

// pieceEnd is where the piece holding byte i of the message ends, for
// pieces of size bytes.
func pieceEnd(i, size, total int) int {
	if size == 0 {
		return total
	}
	return min(total, (i/size+1)*size)
}

// pieceSizes are the ways the tests cut a message: a byte, 7 bytes, a
// 1000-byte frame at a time, and whole.
var pieceSizes = []int{1, 7, 1000, 0}

func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTooBig):
		return "too big"
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	}
	return err.Error()
}

// inflateBothWays inflates msgs, in order, on two connections: with
// Inflate, and with InflateStream reading each message from r. It fails t
// unless both give the same output, the same class of error and the same
// history after each message; unless emit saw exactly the output, in
// order; and unless InflateStream read each message it accepted to its
// io.EOF, once, and never read r after an io.EOF.
func inflateBothWays(t testing.TB, p Params, msgs [][]byte, limit int, r *pieceReader) {
	t.Helper()
	whole, stream := NewDecompressor(p), NewDecompressor(p)
	var emitted []byte
	collect := func(piece []byte) error {
		emitted = append(emitted, piece...)
		return nil
	}
	for i, msg := range msgs {
		want, wantErr := whole.Inflate([]byte("prefix"), msg, limit)
		r.reset(msg, r.size)
		emitted = emitted[:0]
		got, err := stream.InflateStream([]byte("prefix"), r, limit, collect)
		switch {
		case errClass(err) != errClass(wantErr):
			t.Fatalf("message %d: InflateStream: %v; Inflate: %v", i, err, wantErr)
		case !bytes.Equal(got, want):
			t.Fatalf("message %d: InflateStream returned %d bytes, Inflate %d", i, len(got), len(want))
		case err == nil && !bytes.Equal(emitted, got[len("prefix"):]):
			t.Fatalf("message %d: emit saw %d bytes of %d", i, len(emitted), len(got)-len("prefix"))
		case r.afterEOF > 0:
			t.Fatalf("message %d: src read %d times after io.EOF", i, r.afterEOF)
		case err == nil && (r.off != len(msg) || r.eofs != 1):
			t.Fatalf("message %d accepted having read %d of %d bytes, %d io.EOF", i, r.off, len(msg), r.eofs)
		case !bytes.Equal(whole.hist.b, stream.hist.b):
			t.Fatalf("message %d: histories differ", i)
		}
		if err != nil {
			return
		}
	}
}

// TestInflateStreamVectors reads the RFC 7692 examples, their variants
// and the corrupt vectors in every way of cutting them, with io.EOF after
// or with the last piece.
func TestInflateStreamVectors(t *testing.T) {
	type vector struct {
		name     string
		takeover bool
		messages []string
	}
	var vectors []vector
	for _, v := range inflateVectors {
		vectors = append(vectors, vector{v.name, v.takeover, v.messages})
	}
	for _, v := range corruptVectors {
		vectors = append(vectors, vector{"corrupt/" + v.name, false, []string{v.hex}})
	}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			var msgs [][]byte
			for _, m := range v.messages {
				msgs = append(msgs, unhex(m))
			}
			p := Params{ClientNoContextTakeover: !v.takeover}
			for _, size := range pieceSizes {
				for _, eofWithData := range []bool{false, true} {
					inflateBothWays(t, p, msgs, 1<<20, &pieceReader{size: size, eofWithData: eofWithData})
					inflateBothWays(t, p, msgs, 3, &pieceReader{size: size, eofWithData: eofWithData})
				}
			}
		})
	}
}

// TestInflateStreamRoundTrip inflates what a client's Compressor sends,
// for every parameter set of the round-trip tests, cut every way.
func TestInflateStreamRoundTrip(t *testing.T) {
	for _, p := range roundTripCases() {
		t.Run(p.String(), func(t *testing.T) {
			client := NewCompressor(p.Peer())
			var msgs [][]byte
			for _, msg := range testMessages() {
				if out, ok, err := client.Compress(nil, msg); err == nil && ok {
					msgs = append(msgs, out)
				}
			}
			for _, size := range pieceSizes {
				if size == 1 && testing.Short() {
					continue
				}
				inflateBothWays(t, p, msgs, 1<<20, &pieceReader{size: size})
			}
		})
	}
}

// flushed compresses parts as a client that sync-flushes after each part
// (zlib's Z_SYNC_FLUSH) and removes the last 00 00 ff ff, and returns
// where in the message each part's flush ends.
func flushed(t *testing.T, parts ...[]byte) (msg []byte, ends []int) {
	t.Helper()
	var buf bytes.Buffer
	w, _ := stdflate.NewWriter(&buf, 6)
	for _, part := range parts {
		w.Write(part)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, buf.Len())
	}
	return buf.Bytes()[:buf.Len()-len(syncTail)], ends
}

// TestInflateStreamFailFast: corrupt data, data emit rejects, or output
// past the limit in the first part of a message ends InflateStream as
// soon as the inflater has read that part, long before the end of the
// message; what it read is counted, in pieces of every size.
func TestInflateStreamFailFast(t *testing.T) {
	first := jsonMessage(20, 8<<10)
	rest := jsonMessage(21, 64<<10)
	errBad := errors.New("bad byte")
	rejectFF := func(p []byte) error {
		if bytes.IndexByte(p, 0xff) >= 0 {
			return errBad
		}
		return nil
	}
	good, ends := flushed(t, first, rest)

	// A reserved block type (BFINAL 1, BTYPE 11) just after the first
	// flush, then more data.
	corrupt := append(append(good[:ends[0]:ends[0]], 0x07), good[ends[0]:]...)

	// Text with a byte that is never UTF-8 in the first part.
	bad := bytes.Clone(first)
	bad[100] = 0xff
	badText, badEnds := flushed(t, bad, rest)

	tests := []struct {
		name  string
		msg   []byte
		limit int
		want  error
		// The inflater must read up to need, and no further than the
		// end of the piece holding byte need-1.
		need int
	}{
		{"corrupt", corrupt, 1 << 20, ErrCorrupt, ends[0] + 1},
		{"rejected by emit", badText, 1 << 20, errBad, badEnds[0]},
		{"too big", good, 100, ErrTooBig, ends[0]},
	}
	for _, tt := range tests {
		for _, size := range pieceSizes[:3] {
			t.Run(fmt.Sprintf("%s/pieces-%d", tt.name, size), func(t *testing.T) {
				var emitted []byte
				emit := func(p []byte) error {
					emitted = append(emitted, p...)
					return rejectFF(p)
				}
				r := &pieceReader{data: tt.msg, size: size}
				got, err := NewDecompressor(Params{}).InflateStream([]byte("x"), r, tt.limit, emit)
				if !errors.Is(err, tt.want) || string(got) != "x" {
					t.Fatalf("InflateStream = %d bytes, %v; want %v", len(got), err, tt.want)
				}
				if tt.want == errBad && err != errBad {
					t.Errorf("emit's error came back as %v", err)
				}
				t.Logf("read %d of %d bytes, needed %d", r.off, len(tt.msg), tt.need)
				if max := pieceEnd(tt.need-1, size, len(tt.msg)); r.off < tt.need || r.off > max {
					t.Errorf("read %d of %d bytes; want %d to %d", r.off, len(tt.msg), tt.need, max)
				}
				if tt.want != ErrTooBig && !bytes.HasPrefix(emitted, first[:100]) {
					t.Errorf("emit saw %d bytes, not the first part", len(emitted))
				}
			})
		}
	}

	// Without a flush, the inflater releases output when its 32 KiB
	// window is full: a bad byte at the start of a 128 KiB message is
	// seen after about a quarter of it.
	long := jsonMessage(22, 128<<10)
	long[10] = 0xff
	msg := stdDeflate(t, 6, long, nil)
	for _, size := range pieceSizes[:3] {
		r := &pieceReader{data: msg, size: size}
		if _, err := NewDecompressor(Params{}).InflateStream(nil, r, 1<<20, rejectFF); err != errBad {
			t.Fatalf("pieces of %d: %v", size, err)
		}
		t.Logf("no flush, pieces of %d: read %d of %d bytes", size, r.off, len(msg))
		if r.off > len(msg)/3 {
			t.Errorf("pieces of %d: read %d of %d bytes before emit saw the bad byte", size, r.off, len(msg))
		}
	}
}

// TestInflateStreamSourceError: an error from src, wherever it comes, is
// returned as it is, not as corrupt data.
func TestInflateStreamSourceError(t *testing.T) {
	errSocket := errors.New("socket closed")
	msg := stdDeflate(t, 6, jsonMessage(23, 20000), nil)
	final := unhex("f3 48 cd c9 c9 07 00") // ends with a final block
	tests := []struct {
		name   string
		msg    []byte
		failAt int
		err    error
	}{
		{"before the first byte", msg, 0, errSocket},
		{"after one byte", msg, 1, errSocket},
		{"mid-message", msg, len(msg) / 2, errSocket},
		{"instead of io.EOF", msg, len(msg), errSocket},
		{"instead of io.EOF after a final block", final, len(final), errSocket},
		{"an error that is not comparable", msg, 10, uncomparableError{[]string{"read", "tcp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range pieceSizes {
				r := &pieceReader{data: tt.msg, size: size, failAt: tt.failAt, err: tt.err}
				got, err := NewDecompressor(Params{}).InflateStream([]byte("x"), r, 1<<20, nil)
				if errors.Is(err, ErrCorrupt) || string(got) != "x" {
					t.Fatalf("pieces of %d: %d bytes, %v", size, len(got), err)
				}
				var u uncomparableError
				if !errors.Is(err, errSocket) && !errors.As(err, &u) {
					t.Fatalf("pieces of %d: %v; want the reader's error", size, err)
				}
			}
		})
	}

	// A reader that returns nothing, again and again.
	_, err := NewDecompressor(Params{}).InflateStream(nil, stuckReader{}, 1<<20, nil)
	if !errors.Is(err, io.ErrNoProgress) || errors.Is(err, ErrCorrupt) {
		t.Errorf("stuck reader: %v", err)
	}
}

type uncomparableError struct{ ops []string }

func (e uncomparableError) Error() string { return fmt.Sprint(e.ops) }

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

// TestInflateStreamLimit: the limit holds exactly, and a limit as large as
// an int can be reserves nothing.
func TestInflateStreamLimit(t *testing.T) {
	msg := jsonMessage(24, 5000)
	src := stdDeflate(t, 6, msg, nil)
	d := NewDecompressor(Params{ClientNoContextTakeover: true})
	r := &pieceReader{size: 100}
	inflate := func(dst []byte, limit int) ([]byte, error) {
		r.reset(src, r.size)
		return d.InflateStream(dst, r, limit, nil)
	}
	if got, err := inflate(nil, len(msg)); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("limit = size: %v", err)
	}
	for _, limit := range []int{len(msg) - 1, 0, -1, math.MinInt} {
		if got, err := inflate([]byte("x"), limit); err != ErrTooBig || string(got) != "x" {
			t.Fatalf("limit %d: %q, %v; want ErrTooBig", limit, got, err)
		}
	}
	for _, limit := range []int{math.MaxInt, math.MaxInt - 1} {
		if got, err := inflate([]byte("x"), limit); err != nil || !bytes.Equal(got[1:], msg) {
			t.Fatalf("limit %d: %v", limit, err)
		}
	}

	// No room reserved beyond the first step, whatever the limit.
	hello := unhex(rfcHello)
	r.reset(hello, 0)
	got, err := d.InflateStream(nil, r, math.MaxInt, nil)
	if err != nil || string(got) != "Hello" || cap(got) != minGrow {
		t.Errorf("Hello with no limit: %q, cap %d, %v; want cap %d", got, cap(got), err, minGrow)
	}

	// A bomb stops at the limit, having read a fraction of it.
	bomb := stdCompress(t, make([]byte, 10<<20))
	r.reset(bomb, 1000)
	if _, err := d.InflateStream(nil, r, 1<<20, nil); err != ErrTooBig || r.off > len(bomb)/4 {
		t.Errorf("bomb: %v, having read %d of %d bytes", err, r.off, len(bomb))
	}
}

// TestInflateStreamAllocs pins InflateStream at zero allocations once
// warm, when dst has room, including room for exactly the message.
func TestInflateStreamAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	msg := jsonMessage(25, 4096)
	emit := func([]byte) error { return nil }
	for _, noCtx := range []bool{true, false} {
		p := Params{ServerNoContextTakeover: noCtx, ClientNoContextTakeover: noCtx}
		client := NewCompressor(p.Peer())
		d := NewDecompressor(p)
		var r pieceReader
		for _, room := range []int{8192, len(msg)} {
			out := make([]byte, 0, room)
			wire := make([]byte, 0, 4096)
			round := func() {
				wire, _, _ = client.Compress(wire[:0], msg)
				r.reset(wire, 1000)
				var err error
				if out, err = d.InflateStream(out[:0], &r, 1<<20, emit); err != nil || len(out) != len(msg) {
					t.Fatal(err)
				}
			}
			for range 10 {
				round()
			}
			if n := testing.AllocsPerRun(100, round); n != 0 {
				t.Errorf("no context takeover %v, room %d: %v allocations per message", noCtx, room, n)
			}
		}
	}
}
