package lariat

import "time"

// Options are the settings of one connection. The zero value of every
// field means its safe default, so Options{} is a sound configuration, and
// the same holds for the Conn methods that change an option later: zero
// restores the value the connection started with.
//
// Options is a plain value: copy it freely; lariat never changes the
// Options it is given.
type Options struct {
	// IdleTimeout closes a connection that receives nothing for this long,
	// with 1000 and ReasonTimeout. A connection that has received nothing
	// for half of it is pinged (RFC 6455 and the hybi drafts), and the
	// pong counts as something received, so a quiet peer that answers
	// pings, as every browser does by itself, stays connected, while a
	// peer that answers nothing is closed between 1 and 1.25 IdleTimeouts
	// after it last sent anything. The clock is not read per frame, hence
	// the quarter of slack. Zero means 60 s; a negative value disables the
	// timeout and the pings. The timeout keeps running while reading is
	// paused with SetActive(false).
	IdleTimeout time.Duration

	// MessageTimeout bounds the time from the first frame of a message to
	// its last: a peer that trickles a message in, a byte at a time, is
	// closed with 1000 and ReasonTimeout between 1 and 1.25
	// MessageTimeouts after the message began. Zero means 60 s; a negative
	// value disables it.
	MessageTimeout time.Duration

	// WriteTimeout bounds every write to the socket; a peer that does not
	// read for this long is disconnected, without a close frame (a full
	// socket cannot carry one). Zero means 30 s; a negative value
	// disables it.
	WriteTimeout time.Duration

	// CloseTimeout bounds the wait for the peer's close frame after the
	// server sent its own. Zero means 3 s.
	CloseTimeout time.Duration

	// MaxMessageSize is the largest message accepted, after reassembly
	// (and inflation, with compression); a larger one closes the
	// connection with 1009 as soon as its size is known to be too big.
	// Zero or less means 1 MiB. Memory for a message grows with the bytes
	// that arrive, at most 32 KiB ahead of them, never with the length a
	// frame header declares, so a large limit costs nothing until a large
	// message really comes.
	MaxMessageSize int64

	// SkipUTF8Validation turns off the validation of text messages. By
	// default invalid UTF-8 closes the connection with 1007, as RFC 6455
	// §8.1 requires.
	SkipUTF8Validation bool

	// ReadBufferSize and WriteBufferSize are the sizes at which a
	// connection takes its pooled read and write buffers when the load is
	// light. Zero means 4096. Under load the buffers double, up to 32 KiB
	// (Cowboy's dynamic_buffer): the read buffer when a read fills it,
	// over a plain TCP or Unix socket only; the write buffer when a frame
	// finds it full. They halve again, down to these sizes, once the
	// bytes per read or per write fall below a quarter of the size, and
	// start over at these sizes when the connection hibernates. The
	// buffers are held only while used (the write buffer until its frames
	// are written, the read buffer until the socket is empty), so an idle
	// connection holds neither, whatever its load was; over other
	// transports, such as TLS, the read buffer is held while waiting and
	// stays at ReadBufferSize. A busy connection holds at most 64 KiB of
	// the two. Messages up to half the read buffer are handed to Handle
	// without a copy; larger ones are gathered in a pooled buffer that
	// grows as their bytes arrive.
	ReadBufferSize, WriteBufferSize int

	// HibernateAfter makes a connection that has received nothing, from
	// its peer or through Post, for this long hibernate by itself, as if
	// a callback had called Conn.Hibernate: it gives back its buffers and
	// compression context (the next message it sends is compressed
	// without reference to earlier ones) and, on Linux over a plain
	// socket, parks without a goroutine. It happens between 1 and 2
	// HibernateAfters after the connection last received anything, when
	// a timer check that runs anyway finds it quiet: nothing is measured
	// per frame. Zero means 10 s; a negative value disables it.
	//
	// The default weighs memory against wake-ups. Measured on Linux with
	// 10,000 and 19,000 idle connections (TestParkMemory), an idle
	// connection costs the server about 6.1 KB of heap and goroutine
	// stack, and a parked one about 1.6 KB, with no goroutine. Data
	// from the peer costs a parked connection about 10 µs of latency and
	// CPU more than one that waits on its goroutine with GOMAXPROCS=1,
	// and up to about 20 µs of CPU when the scheduler also wakes an idle
	// thread to run the new goroutine (BenchmarkWake, on a 2-core virtual
	// machine whose loopback echo takes 20 µs); a post costs under 1 µs
	// more, 12 µs with the idle thread. A connection hibernates only
	// after 10 s with nothing received, so it pays that at most once per
	// 10 s, a few µs of CPU per second at worst, for 4.5 KB saved. 10 s
	// is also well below half the default IdleTimeout, the interval of
	// the automatic pings, so that a quiet peer that answers them, as an
	// idle browser tab does, hibernates too: its pongs wake it only to be
	// read. Keep HibernateAfter below IdleTimeout/2 for the same reason.
	//
	// Whatever HibernateAfter says, a connection that a Hub delivery woke
	// parks while it waits for the next one, until its peer sends
	// something (see Hub): without its goroutine, and, as any connection
	// on a plain socket that waits, without buffers; unlike a hibernating
	// one it keeps its compression context.
	HibernateAfter time.Duration

	// MailboxSize and MailboxBytes bound what Post may queue for one
	// connection: at most MailboxSize messages (zero means 1024) holding
	// at most MailboxBytes bytes (zero means 1 MiB) of []byte, string and
	// Frame payloads; past either Post returns ErrMailboxFull.
	MailboxSize, MailboxBytes int

	// FragmentSize, when positive, splits each message the server sends
	// into frames of at most this many payload bytes (after compression,
	// for permessage-deflate). Zero sends every message in one frame.
	FragmentSize int

	// Compression, when set, negotiates compression with clients that
	// offer it: permessage-deflate (RFC 7692), or x-webkit-deflate-frame
	// from older browsers. Nil, the default, negotiates none. (Cowboy:
	// compress and deflate_opts.)
	Compression *CompressionOptions
}

const (
	defaultIdleTimeout    = 60 * time.Second
	defaultMessageTimeout = 60 * time.Second
	defaultWriteTimeout   = 30 * time.Second
	defaultCloseTimeout   = 3 * time.Second
	defaultHibernateAfter = 10 * time.Second
	defaultMaxMessageSize = 1 << 20
	defaultBufferSize     = 4096
	minBufferSize         = 256
	defaultMailboxSize    = 1024
	defaultMailboxBytes   = 1 << 20
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.IdleTimeout, defaultIdleTimeout)
	def(&o.MessageTimeout, defaultMessageTimeout)
	def(&o.WriteTimeout, defaultWriteTimeout)
	def(&o.HibernateAfter, defaultHibernateAfter)
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = defaultCloseTimeout
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = defaultMaxMessageSize
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = defaultBufferSize
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = defaultBufferSize
	}
	o.ReadBufferSize = max(o.ReadBufferSize, minBufferSize)
	o.WriteBufferSize = max(o.WriteBufferSize, minBufferSize)
	if o.MailboxSize <= 0 {
		o.MailboxSize = defaultMailboxSize
	}
	if o.MailboxBytes <= 0 {
		o.MailboxBytes = defaultMailboxBytes
	}
	return o
}
