package lariat

import "context"

// Broker carries a Hub's messages between the nodes of a cluster, each
// node running its own Hub with its own Broker. The Hub calls Start once,
// before anything else, then Subscribe, Unsubscribe and Publish from
// many goroutines, and Close once, last. The NATS adapter in
// github.com/lariat-ws/lariat/nats is one; a Hub without a Broker keeps
// its messages in its process.
//
// The contract, which gives a Hub's subscribers every message exactly
// once and in per-publisher order:
//
//   - Publish sends the message to every other node subscribed to topic,
//     in the order of the calls, and never back to its own node: the Hub
//     has already delivered it there. It must not wait for the other
//     nodes, and may return an error when the message cannot be sent.
//   - Subscribe and Unsubscribe add and remove this node's interest in a
//     topic. The Hub calls Subscribe when a topic gets its first
//     subscriber on this node and Unsubscribe when it loses its last one,
//     one call at a time, in order. They must not wait on the network.
//   - Start receives deliver, through which the Broker hands the Hub the
//     messages other nodes published to the topics this node subscribed
//     to, one call at a time, in the order they arrived. deliver does not
//     keep payload after it returns, and never blocks on a connection.
//   - Close stops the Broker: it hands the Hub, through deliver, what it
//     had already received, until ctx ends, and returns only when it will
//     call deliver no more.
type Broker interface {
	Start(deliver func(topic string, op Opcode, payload []byte)) error
	Subscribe(topic string) error
	Unsubscribe(topic string) error
	Publish(topic string, op Opcode, payload []byte) error
	Close(ctx context.Context) error
}
