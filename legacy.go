package lariat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lariat-ws/lariat/internal/hixie"
)

// The hixie-75 and hixie-76 drafts, which browsers of 2010 and 2011 and
// some devices still speak, are served by the same Handler as RFC 6455
// when Upgrader.Legacy is set. They carry text messages only, have no
// ping, pong or close codes, and hixie-75 has no closing frame at all:
// the connection just ends. The codec lives in internal/hixie; this file
// wires it to the handshake and the connection loop.

// ErrNotSupported is returned when a hixie connection is asked to send
// what its draft cannot carry: binary messages, pings and pongs.
var ErrNotSupported = errors.New("lariat: the hixie drafts carry text messages only")

const defaultHandshakeTimeout = 10 * time.Second

// serveLegacy upgrades a hixie-75 or hixie-76 request and reports whether
// the connection started.
func (u *Upgrader) serveLegacy(w http.ResponseWriter, r *http.Request) bool {
	v := VersionHixie75
	var key1, key2 uint32
	if hixie.IsHixie76(r.Header) {
		v = VersionHixie76
		var err error
		if key1, key2, err = hixie.ParseKeys(r.Header); err != nil {
			u.refuse(w, r, http.StatusBadRequest, err.Error())
			return false
		}
	}
	if !u.originAllowed(r, v) {
		u.refuse(w, r, http.StatusForbidden, "origin not allowed")
		return false
	}
	// The drafts offer a single protocol, not a list.
	protoHeader := "Sec-Websocket-Protocol"
	if v == VersionHixie75 {
		protoHeader = "Websocket-Protocol"
	}
	hs := &Handshake{Version: v, Header: http.Header{}, Options: u.Options.withDefaults()}
	if p := r.Header.Get(protoHeader); p != "" {
		hs.Protocols = []string{p}
	}
	h, ok := u.newHandler(w, r, hs)
	if !ok {
		return false
	}
	hs.Options = hs.Options.withDefaults()

	origin := r.Header.Get("Origin")
	location := hixie.Location(r.TLS != nil, r.Host, r.RequestURI)
	var head []byte
	var err error
	if v == VersionHixie76 {
		head, err = hixie.AppendResponse76Header(nil, origin, location, hs.Protocol, hs.Header)
	} else {
		head, err = hixie.AppendResponse75(nil, origin, location, hs.Protocol, hs.Header)
	}
	if err != nil {
		u.abandon(h, hs, err)
		u.refuse(w, r, http.StatusBadRequest, err.Error())
		return false
	}

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		u.hijackFailed(w, h, hs, err)
		return false
	}
	nc.SetDeadline(time.Time{})
	fail := func(err error) {
		nc.Close()
		u.abandon(h, hs, err)
	}
	if v == VersionHixie76 {
		// Key3, the 8 bytes after the request header, may have come with
		// it or may still be on the wire: some proxies hold it back
		// until they see the 101, so the header goes out first.
		if brw.Reader.Buffered() < 8 {
			if _, err := nc.Write(head); err != nil {
				fail(err)
				return false
			}
			head = head[:0]
			nc.SetReadDeadline(time.Now().Add(u.handshakeTimeout()))
		}
		key3, err := hixie.ReadKey3(brw.Reader)
		if err != nil {
			fail(err)
			return false
		}
		nc.SetReadDeadline(time.Time{})
		sum := hixie.Challenge(key1, key2, key3)
		head = append(head, sum[:]...)
	}
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}
	c := newConn(u, nc, h, hs.Options, v, hs.Protocol, buffered)
	c.legacy = &hixie.Decoder{MaxMessage: hs.Options.MaxMessageSize}
	return c.start(head)
}

func (u *Upgrader) handshakeTimeout() time.Duration {
	if u.HandshakeTimeout > 0 {
		return u.HandshakeTimeout
	}
	return defaultHandshakeTimeout
}

// stepLegacy reads and acts on the next event of a hixie connection.
func (c *Conn) stepLegacy() *Reason {
	for {
		if c.rbuf == nil || c.r == c.w {
			if err := c.fill(); err != nil {
				if errors.Is(err, io.EOF) && c.version == VersionHixie75 && !c.legacy.InFrame() {
					// Hixie-75 has no closing frame: the end of the
					// stream between messages is its close.
					return &Reason{Kind: ReasonRemote, Code: StatusNormalClosure, Err: &CloseError{Code: StatusNormalClosure}}
				}
				return c.readFailed(err)
			}
			continue
		}
		n, ev, data, err := c.legacy.Decode(c.rbuf[c.r:c.w])
		c.r += n
		validate := !c.opts.SkipUTF8Validation
		switch ev {
		case hixie.EventText:
			// Part of a message: keep it, since the read buffer will
			// be reused, and validate it now, to fail fast.
			if validate && !c.cur.utf8.feed(data) {
				return c.end(ReasonBadEncoding, StatusInvalidPayload, "", nil)
			}
			c.grow(&c.mbp, len(data))
			*c.mbp = append(*c.mbp, data...)
		case hixie.EventTextEnd:
			if validate && (!c.cur.utf8.feed(data) || !c.cur.utf8.complete()) {
				return c.end(ReasonBadEncoding, StatusInvalidPayload, "", nil)
			}
			p := data // the whole message lies in the read buffer
			if c.mbp != nil {
				c.grow(&c.mbp, len(data))
				*c.mbp = append(*c.mbp, data...)
				p = *c.mbp
			}
			c.cur = message{}
			r := c.invoke(callHandle, Frame{Op: OpText, Payload: p}, nil)
			putBuf(c.mbp)
			c.mbp = nil
			return r
		case hixie.EventClose:
			c.closeRcvd = true
			c.queueClose(StatusNormalClosure, "")
			return &Reason{Kind: ReasonRemote, Code: StatusNormalClosure, Err: &CloseError{Code: StatusNormalClosure}}
		}
		switch {
		case errors.Is(err, hixie.ErrTooBig):
			return c.end(ReasonTooBig, StatusMessageTooBig, "", nil)
		case err != nil:
			return c.end(ReasonBadFrame, StatusProtocolError, "", err)
		}
	}
}

// writeLegacy queues a hixie text frame: 0x00, the UTF-8 bytes, 0xFF.
func (c *Conn) writeLegacy(op Opcode, p []byte) error {
	switch {
	case op != OpText:
		return ErrNotSupported
	case c.closeSent:
		return ErrClosed
	case c.werr != nil:
		return c.werr
	}
	if c.wbp == nil {
		c.wbp = getBuf(c.opts.WriteBufferSize)
	}
	// Valid UTF-8 never holds 0xFF, the frame's end: such text cannot
	// be framed.
	if bytes.IndexByte(p, 0xff) >= 0 {
		return errUnframeable
	}
	wb := append(*c.wbp, 0x00)
	if len(wb)+len(p)+1 <= cap(wb) {
		*c.wbp = append(append(wb, p...), 0xff)
		return nil
	}
	*c.wbp = wb
	return c.writeThrough(p, legacyEnd)
}

var errUnframeable = fmt.Errorf("lariat: text holding a 0xFF byte cannot be sent in a hixie frame: %w", hixie.ErrFrame)

var legacyEnd = []byte{0xff}

// awaitLegacyClose reads until the peer's closing frame, the end of the
// stream, an error or the deadline.
func (c *Conn) awaitLegacyClose() {
	for {
		if c.r == c.w && c.fillRaw() != nil {
			return
		}
		n, ev, _, err := c.legacy.Decode(c.rbuf[c.r:c.w])
		c.r += n
		if ev == hixie.EventClose || err != nil {
			return
		}
	}
}
