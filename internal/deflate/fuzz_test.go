package deflate

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzExtensionHeader feeds two header lines and a configuration to
// Negotiate. Whatever it gets, it must not panic, and an accepted answer
// must be one well-formed element, with window bits in range, that a
// client could offer back and get the same answer (for permessage-deflate).
// Seeds: testdata/fuzz/FuzzExtensionHeader.
func FuzzExtensionHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, line1, line2 string, flags, serverBits, clientBits uint8) {
		cfg := Config{
			ServerNoContextTakeover: flags&1 != 0,
			ClientNoContextTakeover: flags&2 != 0,
			ServerMaxWindowBits:     int(serverBits % 17),
			ClientMaxWindowBits:     int(clientBits % 17),
			Level:                   int(flags>>4)%12 - 2,
		}
		resp, p, ok := Negotiate([]string{line1, line2}, cfg)
		if !ok {
			if resp != "" || p != (Params{}) {
				t.Fatalf("declined with %q, %+v", resp, p)
			}
			return
		}
		if p.Kind != PerMessage && p.Kind != PerFrame {
			t.Fatalf("kind %v", p.Kind)
		}
		if p.ServerMaxWindowBits > normWindowBits(cfg.ServerMaxWindowBits) {
			t.Fatalf("server window %d over the configured %d", p.ServerMaxWindowBits, cfg.ServerMaxWindowBits)
		}
		if cfg.ServerNoContextTakeover && !p.ServerNoContextTakeover {
			t.Fatal("server context takeover despite the configuration")
		}
		if !strings.Contains(strings.ToLower(line1+","+line2), p.Kind.String()) {
			t.Fatalf("accepted %s, which was not offered", p.Kind)
		}
		checkResponse(t, resp, p, cfg)
	})
}

// FuzzInflate inflates arbitrary data as two messages on one connection,
// with or without context takeover, and checks that Inflate never panics,
// never returns more than the limit, and agrees with the reference
// inflater. It then compresses the data and checks the round trip through
// Inflate and compress/flate, and the window the compressor kept to.
// Seeds: testdata/fuzz/FuzzInflate.
func FuzzInflate(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, limit uint32, mode uint8) {
		takeover := mode&1 != 0
		bits := 8 + int(mode>>1)%8
		lim := int(limit % (256 << 10))
		p := Params{
			ServerNoContextTakeover: !takeover,
			ClientNoContextTakeover: !takeover,
			ServerMaxWindowBits:     bits,
			ClientMaxWindowBits:     bits,
			Level:                   int(mode>>4)%12 - 2,
			MinSize:                 1,
		}

		// Inflate, against the reference.
		d := NewDecompressor(p)
		var hist []byte
		for _, msg := range [][]byte{data[:len(data)/2], data[len(data)/2:]} {
			got, err := d.Inflate(nil, msg, lim)
			if len(got) > lim {
				t.Fatalf("%d bytes out, limit %d", len(got), lim)
			}
			window := 0
			if takeover {
				window = d.hist.max
			}
			ref, _, refErr := refInflate(msg, hist, window, lim)
			switch {
			case err == nil && (refErr != nil || !bytes.Equal(got, ref)):
				t.Fatalf("Inflate accepts what the reference does not (%v)", refErr)
			case refErr == nil && err != nil:
				t.Fatalf("the reference accepts what Inflate does not: %v", err)
			case err != nil && !errors.Is(err, ErrCorrupt) && err != ErrTooBig:
				t.Fatalf("error %v is neither ErrCorrupt nor ErrTooBig", err)
			case err == ErrTooBig && refErr != errRefTooBig && refErr != errRefCorrupt && refErr != errRefEOF:
				t.Fatalf("too big for Inflate, %v for the reference", refErr)
			}
			if err != nil {
				break
			}
			if takeover {
				hist = append(hist, got...)
				hist = hist[max(0, len(hist)-window):]
			}
		}

		// Compress, and back.
		c := NewCompressor(p)
		peer := NewDecompressor(p.Peer())
		var sent []byte
		for range 2 {
			out, ok, err := c.Compress(nil, data)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue // sent as it is, outside the context
			}
			got, err := peer.Inflate(nil, out, len(data))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("round trip: %v", err)
			}
			var dict []byte
			if takeover {
				dict = sent[max(0, len(sent)-maxWindow):]
			}
			if got := stdInflate(t, out, dict); !bytes.Equal(got, data) {
				t.Fatal("compress/flate inflates something else")
			}
			if takeover {
				dict = sent
			}
			if _, dist, err := refInflate(out, dict, 0, len(data)); err != nil || dist > 1<<bits {
				t.Fatalf("reference: %v, distance %d over window %d", err, dist, 1<<bits)
			}
			sent = append(sent, data...)
		}
	})
}

// FuzzInflateStream inflates data as two messages on one connection with
// InflateStream, reading each in pieces as long as the fuzzer picks
// (1+cuts[i] bytes for the i-th piece, the whole message if cuts is
// empty), with io.EOF after or with the last piece, and checks it against
// Inflate: same output, same class of error, same history, emit shown all
// the output, src read to its io.EOF and never beyond (inflateBothWays).
// FuzzInflate holds Inflate to the reference inflater. With mode bit 5
// set, the two halves of data are first compressed as a client would,
// so that valid streams of every shape are cut up too.
// Seeds: testdata/fuzz/FuzzInflateStream.
func FuzzInflateStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, cuts []byte, limit uint32, mode uint8) {
		takeover := mode&1 != 0
		bits := 8 + int(mode>>1)%8
		p := Params{
			ServerNoContextTakeover: !takeover,
			ClientNoContextTakeover: !takeover,
			ServerMaxWindowBits:     bits,
			ClientMaxWindowBits:     bits,
			MinSize:                 1,
		}
		msgs := [][]byte{data[:len(data)/2], data[len(data)/2:]}
		if mode&0x20 != 0 {
			client := NewCompressor(p.Peer())
			var compressed [][]byte
			for _, msg := range msgs {
				if out, ok, err := client.Compress(nil, msg); err == nil && ok {
					compressed = append(compressed, out) // else sent as it is
				}
			}
			msgs = compressed
		}
		r := &pieceReader{cuts: cuts, eofWithData: mode&0x10 != 0}
		inflateBothWays(t, p, msgs, int(limit%(256<<10)), r)
	})
}
